//! An SDK error turned into one sentence a user can act on.
//!
//! The SDK's own `Display` is terse ("service error") and its `Debug` is a dump (which
//! `DisplayErrorContext` appends). What a user needs is which call failed and what kind of
//! failure it is: AWS unreachable, the credentials refused or expired, a permission
//! missing, or the service's own code and message. `DisplayErrorContext` is kept for the
//! rare errors that have neither (a request that could not be built).

use std::error::Error;

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

/// What kind of failure an SDK error is, decided from plain values (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// No connection could be made, or it broke: `cause` is the innermost reason.
    Unreachable { cause: String },
    /// No answer in time.
    TimedOut,
    /// The caller lacks a permission.
    Denied { message: String },
    /// The credentials are no longer valid.
    Expired { code: String },
    /// The credentials are not known to AWS or the signature does not match.
    Rejected { code: String, message: String },
    /// Any other error: the SDK's full description.
    Other { detail: String },
}

/// Error codes AWS services use for a missing permission.
const DENIED: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedAccess",
];
const EXPIRED: [&str; 4] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];
const REJECTED: [&str; 5] = [
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidSignatureException",
];

/// Classifies a service error by its code, or its HTTP status when it has none (an
/// answer to HEAD, or an emulator's empty 403) (pure).
pub fn classify(code: Option<&str>, message: Option<&str>, http_status: u16) -> Kind {
    let code_str = code.unwrap_or_default();
    let message = message.unwrap_or_default().to_owned();
    let detail = match (code_str, message.as_str()) {
        ("", "") => format!("HTTP {http_status} with no error details"),
        (code, "") => code.to_owned(),
        ("", message) => message.to_owned(),
        (code, message) => format!("{code}: {message}"),
    };
    if DENIED.contains(&code_str) || (code_str.is_empty() && http_status == 403) {
        Kind::Denied { message }
    } else if EXPIRED.contains(&code_str) {
        Kind::Expired {
            code: code_str.to_owned(),
        }
    } else if REJECTED.contains(&code_str) {
        Kind::Rejected {
            code: code_str.to_owned(),
            message,
        }
    } else {
        Kind::Other { detail }
    }
}

/// The sentence for `kind` when `call` (e.g. "CloudFormation DescribeStacks") failed (pure).
pub fn sentence(kind: &Kind, call: &str) -> String {
    match kind {
        Kind::Unreachable { cause } => format!(
            "cannot reach AWS for {call}: {cause} (check the network connection, a proxy, or \
             --endpoint-url / AWS_ENDPOINT_URL)"
        ),
        Kind::TimedOut => format!(
            "no answer from AWS for {call} in time (check the network connection, or \
             --endpoint-url / AWS_ENDPOINT_URL)"
        ),
        Kind::Denied { message } => {
            let message = if message.is_empty() {
                "access denied".to_owned()
            } else {
                message.trim_end_matches('.').to_owned()
            };
            format!(
                "AWS denied {call}: {message}. The credentials need the permissions listed in \
                 docs/deploy.md"
            )
        }
        Kind::Expired { code } => format!(
            "the AWS credentials have expired ({code} on {call}): refresh them (for example \
             `aws sso login`) and run again"
        ),
        Kind::Rejected { code, message } => format!(
            "AWS rejected the credentials on {call} ({code}: {message}): check the access key \
             or the profile"
        ),
        Kind::Other { detail } => format!("{call} failed: {detail}"),
    }
}

/// One sentence describing `err`, which `call` returned.
pub fn explain<E>(err: &SdkError<E, HttpResponse>, call: &str) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    sentence(&kind(err), call)
}

/// `err`, which `call` returned, as a command's failure (exit code 1).
pub fn failure<E>(err: &SdkError<E, HttpResponse>, call: &str) -> crate::error::Failure
where
    E: ProvideErrorMetadata + Error + 'static,
{
    crate::error::Failure::new(explain(err, call))
}

/// The kind of `err`.
pub fn kind<E>(err: &SdkError<E, HttpResponse>) -> Kind
where
    E: ProvideErrorMetadata + Error + 'static,
{
    match err {
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Kind::TimedOut,
        SdkError::TimeoutError(_) => Kind::TimedOut,
        SdkError::DispatchFailure(failure) => Kind::Unreachable {
            cause: failure
                .as_connector_error()
                .map(|e| innermost(e))
                .unwrap_or_else(|| DisplayErrorContext(err).to_string()),
        },
        SdkError::ServiceError(service) => {
            let inner = service.err();
            classify(
                inner.code(),
                inner.message(),
                service.raw().status().as_u16(),
            )
        }
        SdkError::ResponseError(response) => Kind::Other {
            detail: format!(
                "AWS answered HTTP {} in a form mb could not read",
                response.raw().status().as_u16()
            ),
        },
        _ => Kind::Other {
            detail: DisplayErrorContext(err).to_string(),
        },
    }
}

/// Every message of an error's chain, outermost first, each once, without the debug dump
/// `DisplayErrorContext` appends.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    mb_lambda::aws::error_chain(err)
}

/// The last error in `err`'s source chain: "Connection refused (os error 111)" rather than
/// four layers of wrappers repeating it.
fn innermost(err: &(dyn Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_its_messages_once_each() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Layer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1.as_deref().map(|l| l as &(dyn Error + 'static))
            }
        }
        let err = Layer(
            "an error occurred while loading credentials",
            Some(Box::new(Layer(
                "failed to load IMDS session token",
                Some(Box::new(Layer("failed to load IMDS session token", None))),
            ))),
        );
        assert_eq!(
            chain(&err),
            "an error occurred while loading credentials: failed to load IMDS session token"
        );
    }

    #[test]
    fn denied_codes_of_every_service_are_recognised() {
        for code in DENIED {
            assert!(matches!(
                classify(Some(code), Some("User: x is not authorized"), 400),
                Kind::Denied { .. }
            ));
        }
    }

    #[test]
    fn denied_sentence_quotes_aws_and_points_at_the_permission_list() {
        let kind = classify(
            Some("AccessDenied"),
            Some(
                "User: arn:aws:iam::1:user/a is not authorized to perform: cloudformation:DescribeStacks.",
            ),
            403,
        );
        let text = sentence(&kind, "CloudFormation DescribeStacks");
        assert_eq!(
            text,
            "AWS denied CloudFormation DescribeStacks: User: arn:aws:iam::1:user/a is not \
             authorized to perform: cloudformation:DescribeStacks. The credentials need the \
             permissions listed in docs/deploy.md"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn expired_and_rejected_credentials_say_what_to_do() {
        let expired = sentence(
            &classify(Some("ExpiredToken"), None, 403),
            "STS GetCallerIdentity",
        );
        assert!(expired.contains("have expired") && expired.contains("aws sso login"));
        let rejected = sentence(
            &classify(Some("InvalidClientTokenId"), Some("bad"), 403),
            "STS GetCallerIdentity",
        );
        assert!(rejected.contains("rejected the credentials"));
    }

    #[test]
    fn other_codes_keep_code_and_message() {
        let kind = classify(Some("ValidationError"), Some("m"), 400);
        assert_eq!(
            sentence(&kind, "CloudFormation CreateStack"),
            "CloudFormation CreateStack failed: ValidationError: m"
        );
    }

    #[test]
    fn a_bare_403_is_a_denial_and_a_bare_status_is_named() {
        assert!(matches!(classify(None, None, 403), Kind::Denied { .. }));
        assert_eq!(
            sentence(&classify(None, None, 500), "S3 PutObject"),
            "S3 PutObject failed: HTTP 500 with no error details"
        );
    }

    #[test]
    fn unreachable_names_the_cause_and_the_override() {
        let text = sentence(
            &Kind::Unreachable {
                cause: "Connection refused (os error 111)".into(),
            },
            "STS GetCallerIdentity",
        );
        assert!(text.starts_with("cannot reach AWS for STS GetCallerIdentity: Connection refused"));
        assert!(text.contains("--endpoint-url"));
    }
}
