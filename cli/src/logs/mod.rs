//! The deployed function's log events as `mb logs` shows them: `--since` parsed
//! ([`since`]), which events are new while polling ([`window`]), and how each is printed
//! ([`format`]). All pure; the CloudWatch Logs calls are in `commands::logs`.

pub mod format;
pub mod since;
pub mod window;

/// One log event, as FilterLogEvents returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique within the log group.
    pub id: String,
    /// When it happened, in milliseconds since 1970 (UTC).
    pub timestamp: i64,
    /// When CloudWatch Logs received it, in milliseconds since 1970.
    pub ingestion: i64,
    pub stream: String,
    /// The line the function (or Lambda) wrote.
    pub message: String,
}
