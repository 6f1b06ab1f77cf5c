//! The Lambda Invoke API's request rules (`POST /2015-03-31/functions/{name}/invocations`)
//! as `mb dev` serves them, so that a broadcast the deadline cuts short continues locally
//! through the handler's real `aws-sdk-lambda` client: the same code path as on AWS, where
//! the function invokes itself. Pure: the HTTP server around it is `mb dev`'s (and a test
//! fixture's).
//!
//! `Event` invocations answer 202 at once and run in the background; `RequestResponse`
//! (the default) runs the handler and answers its JSON with 200; `DryRun` answers 204.
//! Errors are Lambda's: a status, `x-amzn-ErrorType` and a JSON `message`.

use serde_json::{Value, json};

/// The path of the Invoke API, with `{name}` for the function.
pub const PATH: &str = "/2015-03-31/functions/{name}/invocations";

/// The largest payload of a synchronous invocation: 6 MB.
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// What to do with one Invoke request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run the handler on `event`; `wait` for `RequestResponse`, not for `Event`.
    Run { event: Value, wait: bool },
    /// `DryRun`: 204, nothing runs.
    DryRun,
    /// Refuse with Lambda's error.
    Refuse {
        status: u16,
        code: &'static str,
        message: String,
    },
}

/// The decision for a request naming `name` (a name, an ARN or `name:qualifier`) with the
/// `X-Amz-Invocation-Type` header `invocation_type` and `body`, to a server that runs
/// only the function `served`.
pub fn decide(served: &str, name: &str, invocation_type: Option<&str>, body: &[u8]) -> Decision {
    if !name.split(':').any(|part| part == served) {
        return Decision::Refuse {
            status: 404,
            code: "ResourceNotFoundException",
            message: format!("Function not found: {name} (only {served} is served here)"),
        };
    }
    let wait = match invocation_type {
        None | Some("RequestResponse") => true,
        Some("Event") => false,
        Some("DryRun") => return Decision::DryRun,
        Some(other) => {
            return Decision::Refuse {
                status: 400,
                code: "ValidationException",
                message: format!(
                    "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                ),
            };
        }
    };
    // Lambda's payload limits: 256 KB for an asynchronous invocation, 6 MB for a
    // synchronous one; past them it answers 413 and runs nothing.
    let limit = if wait {
        SYNC_PAYLOAD_LIMIT
    } else {
        crate::delivery::continuation::PAYLOAD_LIMIT
    };
    if body.len() > limit {
        return Decision::Refuse {
            status: 413,
            code: "RequestEntityTooLargeException",
            message: format!(
                "{} byte payload is too large for the {} invocation type (limit {limit} bytes)",
                body.len(),
                if wait { "RequestResponse" } else { "Event" }
            ),
        };
    }
    match serde_json::from_slice(body) {
        Ok(event) => Decision::Run { event, wait },
        Err(_) => Decision::Refuse {
            status: 400,
            code: "InvalidRequestContentException",
            message: "Could not parse request body into json".to_owned(),
        },
    }
}

/// The JSON body of an error answer.
pub fn error_body(message: &str) -> Vec<u8> {
    json!({ "Type": "User", "message": message })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_types() {
        assert_eq!(
            decide("f", "f", None, b"{}"),
            Decision::Run {
                event: json!({}),
                wait: true
            }
        );
        assert_eq!(
            decide("f", "f", Some("Event"), b"{\"a\":1}"),
            Decision::Run {
                event: json!({"a": 1}),
                wait: false
            }
        );
        assert_eq!(decide("f", "f", Some("DryRun"), b""), Decision::DryRun);
        assert!(matches!(
            decide("f", "f", Some("event"), b"{}"),
            Decision::Refuse {
                status: 400,
                code: "ValidationException",
                ..
            }
        ));
    }

    #[test]
    fn payloads_over_lambdas_limits_are_refused() {
        let at = |n: usize| format!("\"{}\"", "x".repeat(n - 2)).into_bytes();
        let limit = crate::delivery::continuation::PAYLOAD_LIMIT;
        assert!(matches!(
            decide("f", "f", Some("Event"), &at(limit)),
            Decision::Run { wait: false, .. }
        ));
        assert!(matches!(
            decide("f", "f", Some("Event"), &at(limit + 1)),
            Decision::Refuse {
                status: 413,
                code: "RequestEntityTooLargeException",
                ..
            }
        ));
        // A synchronous invocation may carry more.
        assert!(matches!(
            decide("f", "f", None, &at(limit + 1)),
            Decision::Run { wait: true, .. }
        ));
        assert!(matches!(
            decide("f", "f", None, &at(SYNC_PAYLOAD_LIMIT + 1)),
            Decision::Refuse { status: 413, .. }
        ));
    }

    #[test]
    fn names_arns_and_qualifiers() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
        assert!(matches!(
            decide("f", arn, None, b"{}"),
            Decision::Run { .. }
        ));
        assert!(matches!(
            decide("f", "f:$LATEST", None, b"{}"),
            Decision::Run { .. }
        ));
        assert!(matches!(
            decide("f", "g", None, b"{}"),
            Decision::Refuse { status: 404, .. }
        ));
        assert!(matches!(
            decide("f", "f", None, b"not json"),
            Decision::Refuse {
                status: 400,
                code: "InvalidRequestContentException",
                ..
            }
        ));
    }
}
