//! The error a request earns: [`Fault`] (HTTP status, CloudFormation error code,
//! message), which `xml.rs` renders as CloudFormation's XML error answer.

/// A CloudFormation error answer: HTTP status, code, message.
#[derive(Debug)]
pub(super) struct Fault(pub(super) u16, pub(super) &'static str, pub(super) String);

/// A `ValidationError` (400), CloudFormation's answer to most requests it refuses.
pub(super) fn validation(message: String) -> Fault {
    Fault(400, "ValidationError", message)
}
