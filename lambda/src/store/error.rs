//! The one error every store raises.

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct StoreError {
    pub operation: &'static str,
    pub detail: String,
}
