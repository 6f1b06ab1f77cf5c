//! The log filter of `bootstrap` and `mb`: the user's `MB_LOG` (tracing's `EnvFilter`
//! syntax), with the crates that log request and message bodies at debug or trace level
//! (lambda_runtime, the AWS SDK's runtime, hyper, tungstenite) capped at `info`, so that
//! no log level ever shows a payload. Without `MB_LOG` the caller's default applies as it
//! is: a default never raises those crates past `info`, and the caps, which name a level
//! for each crate, would raise them above a quieter default (`mb`'s keeps the SDK at
//! `error`).

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

/// `MB_LOG` if set and valid, with [`CAPPED`] held at `info`; else `default`.
pub fn filter(default: &str) -> EnvFilter {
    let Ok(mut filter) = EnvFilter::try_from_env("MB_LOG") else {
        return EnvFilter::new(default);
    };
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
