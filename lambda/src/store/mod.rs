//! Where connections and their rooms live: the [`ConnectionStore`] trait, with the
//! DynamoDB table used on AWS ([`dynamodb`]) and an in-memory store for `mb dev`
//! ([`memory`]).
//!
//! A connection is a member of one or more rooms ([`Room`]): the default room (a
//! connection that named no channel) or channels. A broadcast reads the members of the
//! sender's rooms, room by room, so its cost grows with those rooms, not with the
//! deployment. Each connection also has one record of its own (its rooms, when it
//! connected, when its rows expire), which `$disconnect`, subscribe and unsubscribe use.
//! Beside them: rooms' streams (history) and dedupe claims (bus events, idempotent
//! publishes), in the same table.

mod dedupe;
pub mod dynamodb;
pub mod dynamodb_dedupe;
pub mod dynamodb_history;
mod error;
mod history;
pub mod memory;
mod model;
mod room;

pub use dedupe::{Claim, DEFAULT_DEDUPE_SECONDS, DedupeStore, MAX_DEDUPE_SECONDS};
pub use dynamodb::DynamoStore;
pub use error::StoreError;
pub use history::{
    COUNTER_GRACE_SECONDS, DEFAULT_HISTORY_SECONDS, HistoryStore, Kept, MAX_HISTORY_SECONDS,
};
pub use memory::MemoryStore;
pub use model::{Connection, ConnectionStore, MAX_CONNECTION_SECONDS, Row, TTL_GRACE_SECONDS};
pub use room::{DEFAULT_ROOM, Room, rooms_of};
