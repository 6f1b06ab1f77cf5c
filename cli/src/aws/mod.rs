//! The one place that builds the AWS SDK configuration for `mb`.
//!
//! Commands that reach AWS (`deploy`, `info`, `destroy`, `logs`, `doctor`) take [`AwsArgs`] and call
//! [`Aws::load`]: the profile (`--profile` or `AWS_PROFILE`), the region (`--region`, else
//! the SDK's chain: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile), an endpoint override
//! (`--endpoint-url`, or the SDK's own `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`)
//! for an emulator, mb's rustls HTTPS client, retries and timeouts. A missing region or
//! missing credentials fail here, before any call, with a sentence saying how to set them.
//!
//! `mb dev` talks only to loopback endpoints (its own Management API, an optional local
//! DynamoDB such as moto), so it uses fixed local credentials and never needs an AWS
//! account; that configuration is `mb_lambda::local::loopback::loopback_config`, which the tests use
//! too.

pub mod error;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::ProvideCredentials;
use clap::Args;

pub use error::{explain, failure};

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot set up the HTTPS client: {0}")]
    Http(String),
    #[error(
        "no AWS region: pass --region REGION, set AWS_REGION, or set `region` in your AWS \
         profile (`aws configure set region REGION`)"
    )]
    NoRegion,
    #[error(
        "no AWS credentials found{0}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass \
         --profile NAME (or set AWS_PROFILE), or run `aws configure` or `aws sso login`"
    )]
    NoCredentials(String),
    #[error(
        "cannot load the AWS credentials{0}: {1}. Set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, pass --profile NAME, or run `aws sso login`"
    )]
    Credentials(String, String),
}

/// To the user: a failure (exit 1), in the error's own words.
impl From<ConfigError> for crate::error::Failure {
    fn from(err: ConfigError) -> Self {
        crate::error::Failure::new(err.to_string())
    }
}

/// Where the AWS calls go and as whom.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS profile from ~/.aws/config (default: AWS_PROFILE, else `default`)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else the profile's region)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint, an emulator such as moto (or set AWS_ENDPOINT_URL)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// A loaded configuration with credentials known to resolve.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    /// S3's endpoint override, if any (an emulator): S3 then uses path-style addressing,
    /// as emulators on `127.0.0.1:PORT` have no per-bucket host names.
    s3_endpoint: Option<String>,
}

/// Connect timeout: a dead network or endpoint is reported within seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of one call, uploads of a few MB over a slow link included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per call (the SDK's standard mode: throttling and transient errors, with
/// jittered backoff).
const MAX_ATTEMPTS: u32 = 4;

impl Aws {
    /// Loads the configuration and resolves credentials once, so that a missing region or
    /// missing credentials are reported before anything else happens.
    pub async fn load(args: &AwsArgs) -> Result<Aws, ConfigError> {
        let endpoint = given(&args.endpoint_url);
        let config = loader(args)?.load().await;
        if config.region().is_none_or(|r| r.as_ref().is_empty()) {
            return Err(ConfigError::NoRegion);
        }
        let which = profile(args)
            .map(|p| format!(" (profile `{p}`)"))
            .unwrap_or_default();
        let Some(provider) = config.credentials_provider() else {
            return Err(ConfigError::NoCredentials(which));
        };
        match provider.provide_credentials().await {
            Ok(_) => {}
            Err(aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(
                _,
            )) => return Err(ConfigError::NoCredentials(which)),
            Err(err) => {
                let why = error::chain(&err).trim_end_matches('.').to_owned();
                return Err(ConfigError::Credentials(which, why));
            }
        }
        // The SDK's precedence: the service's own variable, then the general override.
        let s3_endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|v| !v.is_empty())
            .or(endpoint)
            .or_else(|| {
                std::env::var("AWS_ENDPOINT_URL")
                    .ok()
                    .filter(|v| !v.is_empty())
            });
        Ok(Aws {
            config,
            s3_endpoint,
        })
    }

    /// The region every call goes to.
    pub fn region(&self) -> &str {
        self.config.region().map(|r| r.as_ref()).unwrap_or_default()
    }

    /// The caller's credentials, for what signs its own requests (`mb publish`).
    pub async fn credentials(&self) -> Result<aws_credential_types::Credentials, ConfigError> {
        let Some(provider) = self.config.credentials_provider() else {
            return Err(ConfigError::NoCredentials(String::new()));
        };
        provider
            .provide_credentials()
            .await
            .map_err(|err| ConfigError::Credentials(String::new(), error::chain(&err)))
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.s3_endpoint.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// True when S3 is reached without TLS (an emulator on plain HTTP), where a bucket
    /// policy requiring TLS would deny every call.
    pub fn s3_without_tls(&self) -> bool {
        self.s3_endpoint
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().starts_with("http://"))
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }

    /// IAM, for `mb doctor`'s simulation: two attempts, as an emulator without IAM answers
    /// 500 and a user waits for the answer.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::config::Builder::from(&self.config)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// CloudWatch Logs: the function's log events (`mb logs`) and whether its log group
    /// already exists (the preflight).
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    /// Secrets Manager, for `mb token`: the deployed token secret (GetSecretValue).
    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config)
    }

    /// Lambda, for the account's concurrency (GetAccountSettings) before a deploy
    /// reserves some; `AWS_ENDPOINT_URL_LAMBDA` points it elsewhere, as the SDK reads it.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    /// SQS, for `mb info`: how many continuations wait in the stack's lost queue.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// The account (and caller ARN) the credentials belong to: STS GetCallerIdentity,
    /// which needs no permission.
    pub async fn identity(&self) -> Result<Identity, crate::error::Failure> {
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| failure(&e, "STS GetCallerIdentity"))?;
        let account = out.account().unwrap_or_default().to_owned();
        if account.is_empty() {
            return Err(crate::error::Failure::new(
                "STS GetCallerIdentity answered without an account id",
            ));
        }
        Ok(Identity {
            account,
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }
}

/// The profile in use: `--profile`, else `AWS_PROFILE` (`None`: the SDK's default chain).
pub fn profile(args: &AwsArgs) -> Option<String> {
    given(&args.profile).or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// The region alone (the flag, else the SDK's chain: environment, profile), for what
/// needs no call to AWS and so no credentials.
pub async fn region(args: &AwsArgs) -> Result<String, ConfigError> {
    let config = loader(args)?.load().await;
    config
        .region()
        .map(|r| r.as_ref().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or(ConfigError::NoRegion)
}

/// The SDK's loader with mb's HTTPS client, retries, timeouts and the flags.
fn loader(args: &AwsArgs) -> Result<aws_config::ConfigLoader, ConfigError> {
    let http = mb_lambda::aws::https_client(None).map_err(|e| ConfigError::Http(e.to_string()))?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(profile) = given(&args.profile) {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = given(&args.region) {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = given(&args.endpoint_url) {
        loader = loader.endpoint_url(endpoint);
    }
    Ok(loader)
}

/// Who the credentials are.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

impl Identity {
    /// The caller's partition (`aws`, `aws-cn`, `aws-us-gov`): the one in its ARN, else
    /// the region's.
    pub fn partition(&self, region: &str) -> String {
        partition_of(&self.arn)
            .unwrap_or_else(|| crate::permissions::partition(region))
            .to_owned()
    }
}

/// The partition of an ARN, `arn:<partition>:...` (pure).
pub fn partition_of(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(partition), Some(_)) if !partition.is_empty() => Some(partition),
        _ => None,
    }
}

/// A flag's value unless empty.
fn given(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// SDK configuration for loopback endpoints: static local credentials, no profile or
/// environment lookups, mb's rustls HTTPS client.
pub async fn local_config() -> Result<SdkConfig, ConfigError> {
    mb_lambda::local::loopback::loopback_config(None, None)
        .await
        .map_err(|e| ConfigError::Http(e.to_string()))
}

/// `config` with every client pointed at `endpoint` (an emulator).
pub fn with_endpoint(config: &SdkConfig, endpoint: &str) -> SdkConfig {
    config.to_builder().endpoint_url(endpoint).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(arn: &str) -> Identity {
        Identity {
            account: "123456789012".into(),
            arn: arn.into(),
        }
    }

    #[test]
    fn the_partition_is_the_callers() {
        for (arn, partition) in [
            ("arn:aws:sts::123456789012:assumed-role/deploy/ci", "aws"),
            ("arn:aws-cn:iam::123456789012:user/alice", "aws-cn"),
            (
                "arn:aws-us-gov:sts::123456789012:assumed-role/r/s",
                "aws-us-gov",
            ),
        ] {
            assert_eq!(partition_of(arn), Some(partition));
            // The ARN wins over the region.
            assert_eq!(identity(arn).partition("eu-west-1"), partition);
        }
        assert_eq!(partition_of(""), None);
        assert_eq!(partition_of("arn::sts"), None);
        assert_eq!(partition_of("user/alice"), None);
        // No usable ARN: the region's partition.
        assert_eq!(identity("").partition("cn-north-1"), "aws-cn");
        assert_eq!(identity("").partition("us-gov-west-1"), "aws-us-gov");
    }
}
