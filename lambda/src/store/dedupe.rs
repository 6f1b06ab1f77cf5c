//! At most once: a claim on an event's dedupe key ([`DedupeStore`]), held for the dedupe
//! window, and what the delivery under it answered. A bus event's key is its `id` (or
//! its source's message id); an HTTP publish's, its `Idempotency-Key`.

use std::future::Future;

use super::error::StoreError;

/// How long a key is remembered unless configured otherwise: a day, longer than SQS's
/// retries and SNS's redeliveries take, and than a client retries a publish for.
pub const DEFAULT_DEDUPE_SECONDS: u32 = 24 * 60 * 60;
/// The longest a key may be remembered: a week.
pub const MAX_DEDUPE_SECONDS: u32 = 7 * 24 * 60 * 60;

/// What a claim on a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key now: it delivers.
    Won,
    /// A delivery under the key is done; its answer (the counts, as JSON text).
    Done { answer: String },
    /// A delivery under the key holds it and has not answered: still going, or it
    /// stopped without answering. `same_owner` when that was the caller (an SQS
    /// message's retry has the same message id).
    Held { same_owner: bool },
}

/// The claims on dedupe keys.
pub trait DedupeStore: Send + Sync {
    /// Claims `key` for `owner` until `expires_at` (unix seconds): won when no claim on
    /// it stands at `now_s` (none, or expired), else what stands.
    fn claim(
        &self,
        key: &str,
        owner: &str,
        now_s: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;
    /// Records what the delivery under `key` answered.
    fn settle(
        &self,
        key: &str,
        answer: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives `key` back when `owner`'s delivery never started, so a retry can claim
    /// it; a claim that is not `owner`'s, or that has an answer, stays.
    fn release(
        &self,
        key: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
