//! What a post is to the rest of the function: the [`Gateway`] and [`Poster`] traits every
//! client implements, how a post failed ([`PostFailure`]), and the Management API endpoint
//! of an event.

use std::future::Future;

use bytes::Bytes;

/// How one post failed, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostFailure {
    /// The service answered with an error status (and, usually, an error code).
    Service { status: u16, code: Option<String> },
    /// No answer in time (connect or attempt timeout).
    Timeout,
    /// The request could not be sent or its answer not read (connection refused, reset, TLS).
    Transport(String),
}

impl std::fmt::Display for PostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostFailure::Service { status, code } => {
                write!(
                    f,
                    "HTTP {status} {}",
                    code.as_deref().unwrap_or("(no error code)")
                )
            }
            PostFailure::Timeout => f.write_str("timed out"),
            PostFailure::Transport(detail) => write!(f, "transport error: {detail}"),
        }
    }
}

/// Posts messages to the connections of one API stage.
pub trait Poster: Send + Sync {
    fn post(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<(), PostFailure>> + Send;
}

/// Hands out a [`Poster`] for a Management API endpoint (`https://{domain}/{stage}`).
pub trait Gateway: Send + Sync {
    type Poster: Poster;
    fn poster(&self, endpoint: &str) -> Self::Poster;
}

/// The Management API endpoint for an event: the override when one is set (a custom
/// domain, `mb dev`, a test), else `https://{domain_name}/{stage}` as API Gateway documents.
pub fn management_endpoint(
    override_url: Option<&str>,
    domain_name: Option<&str>,
    stage: Option<&str>,
) -> Option<String> {
    if let Some(url) = override_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    match (domain_name, stage) {
        (Some(domain), Some(stage)) if !domain.is_empty() && !stage.is_empty() => {
            Some(format!("https://{domain}/{stage}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_comes_from_domain_and_stage() {
        assert_eq!(
            management_endpoint(
                None,
                Some("abc.execute-api.eu-west-1.amazonaws.com"),
                Some("dev")
            ),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/dev".to_owned())
        );
    }

    #[test]
    fn override_wins_and_loses_its_trailing_slash() {
        assert_eq!(
            management_endpoint(Some("http://127.0.0.1:9/"), Some("x"), Some("dev")),
            Some("http://127.0.0.1:9".to_owned())
        );
    }

    #[test]
    fn no_endpoint_without_domain_or_stage() {
        assert_eq!(management_endpoint(None, None, Some("dev")), None);
        assert_eq!(management_endpoint(None, Some("x"), Some("")), None);
    }
}
