//! The Lambda entry point (`provided.al2023` runs the binary named `bootstrap`): reads
//! the configuration from the environment, builds the SDK clients once, and serves
//! API Gateway WebSocket events through the Lambda Runtime API.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mb_lambda::gateway::SdkGateway;
use mb_lambda::store::DynamoStore;
use mb_lambda::{Config, Handler};

// One thread: a Lambda gets at most a share of a vCPU at small memory sizes, and the
// single-threaded runtime spent less CPU per fan-out (docs/benchmarks.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON lines for CloudWatch Logs Insights; Lambda adds the timestamp and request id.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(mb_lambda::logs::filter("info"))
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();

    let config = Config::from_vars(|name| std::env::var(name).ok()).map_err(|err| {
        tracing::error!(%err, "bad configuration");
        err.to_string()
    })?;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(mb_lambda::aws::https_client(None)?)
        .timeout_config(mb_lambda::aws::interactive_timeouts())
        .load()
        .await;
    let handler = Arc::new(Handler::new(
        DynamoStore::new(&sdk, config.table_name),
        SdkGateway::new(&sdk),
        config.settings,
    ));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Error>(handler.handle(event.payload).await) }
        },
    ))
    .await
}
