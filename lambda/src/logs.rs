//! The log filter of `bootstrap` and `mb`: the user's `MB_LOG` (tracing's `EnvFilter`
//! syntax), with the crates that log request and message bodies at debug or trace level
//! (lambda_runtime, the AWS SDK's runtime, hyper, tungstenite) capped at `info`, so that
//! no log level ever shows a payload.

use tracing_subscriber::EnvFilter;

/// Crates whose verbose levels print payloads.
const CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "tungstenite",
    "tokio_tungstenite",
    "axum",
];

/// `MB_LOG` if set and valid, else `default`, with [`CAPPED`] held at `info`.
pub fn filter(default: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_env("MB_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
