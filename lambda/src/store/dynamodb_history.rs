//! Rooms' streams in the same table as their members (docs/architecture.md, "History"):
//!
//! - A room's counter is one item, `room = "^" + the room's key`, `connectionId = "^"`,
//!   with `seq` (the newest number, taken with `ADD`, so concurrent broadcasts never get
//!   the same one), `epoch` (set once, `if_not_exists`) and `expiresAt`, moved on by every
//!   number.
//! - A kept message is one item, `room = "!" + the room's key`, `connectionId` its number
//!   as 20 digits (so the sort key orders numbers), with `copy` and `expiresAt`. A resume
//!   reads them with one Query between two numbers, strongly consistent, never a Scan.
//!
//! `^` and `!` cannot start a channel name, as `~` (a connection's own item) and `#` (the
//! default room) cannot, and each room's counter and messages are partitions of their
//! own: one room's stream is bounded by one partition's write rate, not the table's.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::dynamodb::{DynamoStore, EXPIRES_AT, KEY, ROOM, error, n, s};
use super::error::StoreError;
use super::history::{HistoryStore, Kept};
use super::room::Room;
use crate::wire::position::Position;

/// What starts the `room` of a room's counter, and is its `connectionId`.
pub const COUNTER_PREFIX: &str = "^";
/// What starts the `room` of a room's kept messages.
pub const KEPT_PREFIX: &str = "!";
/// The counter's newest number, its epoch, and a kept message's copy.
pub const SEQ: &str = "seq";
pub const EPOCH: &str = "epoch";
pub const COPY: &str = "copy";

/// A kept message's sort key: its number as 20 digits, so keys sort as numbers do.
pub fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

fn counter_key(room: &Room) -> [(String, AttributeValue); 2] {
    [
        (
            ROOM.to_owned(),
            s(format!("{COUNTER_PREFIX}{}", room.key())),
        ),
        (KEY.to_owned(), s(COUNTER_PREFIX.to_owned())),
    ]
}

fn kept_room(room: &Room) -> AttributeValue {
    s(format!("{KEPT_PREFIX}{}", room.key()))
}

fn position(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Position> {
    let seq = match item.get(SEQ) {
        Some(AttributeValue::N(seq)) => seq.parse().ok()?,
        _ => return None,
    };
    let epoch = match item.get(EPOCH) {
        Some(AttributeValue::S(epoch)) => epoch.clone(),
        _ => return None,
    };
    Some(Position { epoch, seq })
}

impl HistoryStore for DynamoStore {
    async fn next_position(
        &self,
        room: &Room,
        new_epoch: &str,
        expires_at: i64,
    ) -> Result<Position, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(room).into_iter().collect()))
            .update_expression(
                "ADD #seq :one SET #epoch = if_not_exists(#epoch, :epoch), #e = :expires",
            )
            .expression_attribute_names("#seq", SEQ)
            .expression_attribute_names("#epoch", EPOCH)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":epoch", s(new_epoch.to_owned()))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error("UpdateItem", &e))?;
        updated
            .attributes()
            .and_then(position)
            .ok_or_else(|| StoreError {
                operation: "UpdateItem",
                detail: "the counter came back without its seq and epoch".to_owned(),
            })
    }

    async fn keep(
        &self,
        room: &Room,
        seq: u64,
        copy: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(ROOM, kept_room(room))
            .item(KEY, s(seq_key(seq)))
            .item(COPY, s(copy.to_owned()))
            .item(EXPIRES_AT, n(expires_at))
            .send()
            .await
            .map_err(|e| error("PutItem", &e))?;
        Ok(())
    }

    async fn head(&self, room: &Room) -> Result<Option<Position>, StoreError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(room).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error("GetItem", &e))?;
        Ok(read.item().and_then(position))
    }

    async fn kept(
        &self,
        room: &Room,
        after: u64,
        through: u64,
        now_s: i64,
    ) -> Result<Vec<Kept>, StoreError> {
        if through <= after {
            return Ok(Vec::new());
        }
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#r = :room AND #k BETWEEN :from AND :to")
            .projection_expression("#k, #copy")
            // TTL deletes lazily: an expired message is not kept any more.
            .filter_expression("#e > :now")
            .expression_attribute_names("#r", ROOM)
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#copy", COPY)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":room", kept_room(room))
            .expression_attribute_values(":from", s(seq_key(after + 1)))
            .expression_attribute_values(":to", s(seq_key(through)))
            .expression_attribute_values(":now", n(now_s))
            .consistent_read(true)
            .set_limit(self.page_limit)
            .into_paginator()
            .send();
        let mut kept = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("Query", &e))?;
            kept.extend(page.items().iter().filter_map(|item| {
                let seq = match item.get(KEY) {
                    Some(AttributeValue::S(key)) => key.parse().ok()?,
                    _ => return None,
                };
                match item.get(COPY) {
                    Some(AttributeValue::S(copy)) => Some(Kept {
                        seq,
                        copy: copy.clone(),
                    }),
                    _ => None,
                }
            }));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_keys_sort_as_numbers() {
        let mut keys: Vec<String> = [10u64, 9, 1 << 53, 100, 0].map(seq_key).to_vec();
        keys.sort();
        assert_eq!(keys, [0, 9, 10, 100, 1 << 53].map(seq_key));
        assert_eq!(seq_key(u64::MAX).len(), 20);
    }
}
