//! The two Management API clients a broadcast can post with, behind one gateway type, so
//! that fault and delivery tests run against both: the direct client the function ships
//! with (`aws-sigv4` + `hyper`) and the real `aws-sdk-apigatewaymanagement` client it is
//! checked against.

use aws_config::SdkConfig;
use bytes::Bytes;
use mb_lambda::gateway::{
    DirectGateway, DirectOptions, DirectPoster, Gateway, PostFailure, Poster,
};

use crate::sdk_gateway::{SdkGateway, SdkPoster};

/// Runs each `case` (an `async fn case(client: PostClient)` of the calling test file)
/// once with each client, as two tests: `case::direct` and `case::sdk`.
#[macro_export]
macro_rules! with_both_clients {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn direct() {
                super::$case($crate::post_client::PostClient::Direct).await;
            }

            #[tokio::test]
            async fn sdk() {
                super::$case($crate::post_client::PostClient::Sdk).await;
            }
        }
    )*};
}

/// Which client posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostClient {
    /// `mb_lambda::gateway::DirectGateway`, what the function ships with.
    Direct,
    /// `crate::sdk_gateway::SdkGateway`, the SDK client (the reference).
    Sdk,
}

impl PostClient {
    /// A gateway of this kind signing with `sdk`'s credentials, trusting `ca_pem` too, at
    /// most `concurrency` connections per endpoint (the direct one's bound).
    pub fn gateway(self, sdk: &SdkConfig, ca_pem: Option<&[u8]>, concurrency: usize) -> AnyGateway {
        match self {
            PostClient::Direct => AnyGateway::Direct(DirectGateway::with_options(
                sdk,
                DirectOptions {
                    max_connections: concurrency,
                    extra_root_pem: ca_pem.map(<[u8]>::to_vec),
                    ..DirectOptions::default()
                },
            )),
            PostClient::Sdk => AnyGateway::Sdk(Box::new(SdkGateway::new(sdk))),
        }
    }
}

pub enum AnyGateway {
    Direct(DirectGateway),
    Sdk(Box<SdkGateway>),
}

impl From<DirectGateway> for AnyGateway {
    fn from(gateway: DirectGateway) -> Self {
        AnyGateway::Direct(gateway)
    }
}

#[derive(Clone)]
pub enum AnyPoster {
    Direct(DirectPoster),
    Sdk(SdkPoster),
}

impl Gateway for AnyGateway {
    type Poster = AnyPoster;

    fn poster(&self, endpoint: &str) -> AnyPoster {
        match self {
            AnyGateway::Direct(g) => AnyPoster::Direct(g.poster(endpoint)),
            AnyGateway::Sdk(g) => AnyPoster::Sdk(g.poster(endpoint)),
        }
    }
}

impl Poster for AnyPoster {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostFailure> {
        match self {
            AnyPoster::Direct(p) => p.post(connection_id, data).await,
            AnyPoster::Sdk(p) => p.post(connection_id, data).await,
        }
    }
}
