//! The Lambda entry point (`provided.al2023` runs the binary named `bootstrap`): reads
//! the configuration from the environment (a bad variable stops it), builds the SDK
//! clients once, and serves
//! API Gateway WebSocket events, `$connect` authorizer requests, continuations and
//! function URL publishes through the Lambda Runtime API.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mb_lambda::clock::deadline_from_epoch_ms;
use mb_lambda::config::Auth;
use mb_lambda::delivery::continuation::LambdaInvoker;
use mb_lambda::event::Event;
use mb_lambda::gateway::DirectGateway;
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
    // The token keys load at the first authorizer request, not here: a secret or key set
    // out of reach refuses connections and nothing else.
    let mut settings = config.settings;
    settings.auth = mb_lambda::access::keys::provider(&config.auth, &sdk, None)
        .map(|provider| Auth(Arc::new(provider)));
    let mut handler = Handler::new(
        DynamoStore::new(&sdk, config.table_name),
        DirectGateway::new(&sdk, settings.concurrency),
        settings,
    );
    if let Some(function) = config.function_name {
        handler = handler.with_invoker(Arc::new(LambdaInvoker::new(&sdk, function)));
    }
    let handler = Arc::new(handler);
    // Every kind of event arrives here and goes through the one door
    // (`mb_lambda::event`). The deadline is the invocation's, from the Runtime API.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = Arc::clone(&handler);
        async move {
            let deadline =
                deadline_from_epoch_ms(i64::try_from(event.context.deadline).unwrap_or(i64::MAX));
            Ok::<_, Error>(
                handler
                    .dispatch(Event::recognize(event.payload), deadline)
                    .await
                    .json,
            )
        }
    }))
    .await
}
