//! The direct Management API client against the SDK's and against AWS's behaviour:
//! - it sends what the SDK sends: the same request signed both ways, with fixed
//!   credentials and clock, has the same method, path, headers and signature;
//! - it never opens more connections than posts in flight (the SDK's pool does);
//! - credentials that expire mid-broadcast are replaced, and every post still lands.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_async::time::StaticTimeSource;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use mb_lambda::gateway::{DirectGateway, DirectOptions, Target, signed_post};
use mb_lambda::store::{Connection, ConnectionStore, MemoryStore};
use mb_tests::fake_gateway::{FakeGateway, KeyRing, Options};
use mb_tests::post_client::{AnyGateway, PostClient};

/// Headers the SDK adds for its own bookkeeping (user agent, invocation id, attempt
/// count): they identify the SDK, not the request, and the direct client does not send
/// them. The user agent ones are signed, so they are removed before the SDK signs; the
/// other two are added after signing, unsigned, and left out of the comparison.
const SDK_ONLY: [&str; 4] = [
    "user-agent",
    "x-amz-user-agent",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
];

/// Removes [`SDK_ONLY`] before the SDK signs, and keeps the request it sends.
type Sent = (String, String, BTreeMap<String, String>);

#[derive(Debug, Default, Clone)]
struct Capture {
    sent: Arc<std::sync::Mutex<Option<Sent>>>,
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        for name in SDK_ONLY {
            context.request_mut().headers_mut().remove(name);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let uri: http::Uri = request.uri().parse()?;
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .filter(|(k, _)| !SDK_ONLY.contains(&k.as_str()))
            .collect();
        *self.sent.lock().unwrap() =
            Some((request.method().to_owned(), uri.path().to_owned(), headers));
        Ok(())
    }
}

#[tokio::test]
async fn the_direct_client_sends_the_request_the_sdk_sends_with_the_same_signature() {
    let fake = FakeGateway::start(Options::default()).await;
    let endpoint = format!("{}/prod", fake.endpoint);
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let credentials = Credentials::new(
        "ASIAEXAMPLEEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Some("FwoGZXIvYXdzEXAMPLEsessiontoken/+=".to_owned()),
        None,
        "fixed",
    );
    // An id with characters a URL path must encode, and a body that is not UTF-8 text.
    let id = "L0SM9cOFvHcCIhw=+/x";
    let data = Bytes::from_static(b"{\"a\":1,\"_me\":false}\xff");

    let capture = Capture::default();
    let sdk = mb_tests::sdk_config(None, None)
        .await
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
        .region(aws_config::Region::new("eu-west-1"))
        .time_source(StaticTimeSource::new(time))
        .build();
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(&endpoint)
        .interceptor(capture.clone())
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
        .post_to_connection()
        .connection_id(id)
        .data(aws_smithy_types::Blob::new(data.clone()))
        .send()
        .await
        .expect("the SDK's post");
    let (sdk_method, sdk_path, sdk_headers) = capture
        .sent
        .lock()
        .unwrap()
        .clone()
        .expect("the SDK's request");

    let direct = signed_post(
        &Target::parse(&endpoint).unwrap(),
        id,
        data.clone(),
        &credentials.into(),
        "eu-west-1",
        time,
    )
    .unwrap();
    let direct_headers: BTreeMap<String, String> = direct
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "host")
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();

    assert_eq!(direct.method().as_str(), sdk_method);
    assert_eq!(direct.uri().path(), sdk_path);
    assert_eq!(
        direct.uri().path(),
        "/prod/@connections/L0SM9cOFvHcCIhw%3D%2B%2Fx"
    );
    // Every header, the signature (in `authorization`) among them.
    assert_eq!(direct_headers, sdk_headers);
    assert!(sdk_headers["authorization"].contains(
        "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token,"
    ));
    // And the host the direct client sends is the one both signed.
    assert_eq!(
        direct.headers()["host"],
        endpoint
            .trim_start_matches("http://")
            .trim_end_matches("/prod")
    );
}

async fn stored(n: usize) -> (MemoryStore, Vec<String>) {
    let store = MemoryStore::new();
    let ids: Vec<String> = (0..n).map(|i| format!("c{i:05}=")).collect();
    for id in &ids {
        store
            .put(&Connection::new(id.clone(), mb_tests::a_minute_ago()))
            .await
            .unwrap();
    }
    (store, ids)
}

/// Over TLS, a broadcast to 2,000 at concurrency 64, answered at once: how many
/// connections (each a TLS handshake) the endpoint accepted, and whether everyone got
/// one copy.
async fn connections_for(client: PostClient) -> usize {
    let fake = FakeGateway::start(Options {
        tls: true,
        record: false,
        ..Options::default()
    })
    .await;
    let (store, ids) = stored(2_000).await;
    let handler = fake.handler_using(client, store, 64).await;
    let report = handler
        .websocket(
            mb_tests::event("$default", &ids[0], Some("hi")),
            Instant::now() + Duration::from_secs(60),
        )
        .await
        .report;
    assert_eq!(report.delivered, 2_000, "{client:?}: {report:?}");
    assert!(fake.max_in_flight() <= 64);
    fake.connections()
}

#[tokio::test]
async fn the_direct_client_never_opens_more_connections_than_posts_in_flight() {
    let direct = connections_for(PostClient::Direct).await;
    assert!(
        (1..=64).contains(&direct),
        "the direct client opened {direct} connections for a bound of 64"
    );
}

/// Mints a new access key on every call, valid for `lifetime`, and tells the endpoint.
#[derive(Debug)]
struct Rotating {
    keys: Arc<KeyRing>,
    lifetime: Duration,
    minted: AtomicUsize,
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.minted.fetch_add(1, Ordering::SeqCst);
        let key = format!("ASIAROTATING{n:04}");
        self.keys.allow(&key, Instant::now() + self.lifetime);
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            key,
            "secret",
            Some("token".to_owned()),
            Some(SystemTime::now() + self.lifetime),
            "rotating",
        )))
    }
}

#[tokio::test]
async fn posts_keep_landing_when_credentials_expire_mid_broadcast() {
    let keys = Arc::new(KeyRing::default());
    let fake = FakeGateway::start(Options {
        latency: Duration::from_millis(20),
        record: false,
        keys: Some(Arc::clone(&keys)),
        ..Options::default()
    })
    .await;
    let rotating = Arc::new(Rotating {
        keys: Arc::clone(&keys),
        lifetime: Duration::from_millis(400),
        minted: AtomicUsize::new(0),
    });
    let sdk = mb_tests::sdk_config(None, None)
        .await
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(RotatingHandle(Arc::clone(
            &rotating,
        ))))
        .build();
    let gateway = DirectGateway::with_options(
        &sdk,
        DirectOptions {
            max_connections: 32,
            refresh_margin: Duration::from_millis(100),
            ..DirectOptions::default()
        },
    );
    // 1,500 posts at 20 ms, 32 at a time: about a second, so several keys expire.
    let (store, ids) = stored(1_500).await;
    let handler = fake.handler_over(AnyGateway::from(gateway), store, 32);
    let started = Instant::now();
    let report = handler
        .websocket(
            mb_tests::event("$default", &ids[0], Some("hi")),
            Instant::now() + Duration::from_secs(60),
        )
        .await
        .report;
    let took = started.elapsed();
    let minted = rotating.minted.load(Ordering::SeqCst);
    assert_eq!(report.failed, 0, "{report:?}, keys used: {:?}", keys.used());
    assert_eq!(report.delivered, 1_500);
    assert!(
        took > Duration::from_millis(800),
        "the broadcast outlived a key ({took:?})"
    );
    // Replaced as they expire, not fetched for every post.
    assert!(
        (2..=20).contains(&minted),
        "{minted} credentials fetched for a broadcast of {took:?}"
    );
}

#[derive(Debug)]
struct RotatingHandle(Arc<Rotating>);

impl ProvideCredentials for RotatingHandle {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}
