//! The DynamoDB table of rooms: partition key `room`, sort key `connectionId`.
//!
//! - A member of a room is one item `(room, connectionId)`, `room` being `#` for the
//!   default room or the channel's name, with `connectedAt` (ms) and the TTL attribute
//!   `expiresAt` (epoch seconds). A broadcast reads a room with one Query (never a Scan),
//!   so its cost grows with the room, not with the table.
//! - Each connection also has its own item, `room = "~" + connectionId`, holding the
//!   same two attributes and `rooms`, the string set of its rooms' keys: `$disconnect`,
//!   subscribe and unsubscribe read it. `~` and `#` cannot start a channel name.
//!
//! Reads follow `LastEvaluatedKey` through every page (the old backend read only the
//! first 1 MB page, so connections past it never got messages), are strongly
//! consistent, project only the key and `connectedAt`, and filter out rows whose
//! `expiresAt` has passed: TTL deletes lazily, often days later. A 410's delete is
//! conditional on the `connectedAt` the broadcast read.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use std::collections::{BTreeSet, HashMap};

use futures_util::future::try_join_all;

use super::error::StoreError;
use super::model::{Connection, ConnectionStore, Row};
use super::room::Room;

/// The partition key attribute: a room's key, or `~` + a connection id.
pub const ROOM: &str = "room";
/// The sort key attribute.
pub const KEY: &str = "connectionId";
/// What starts the `room` of a connection's own item.
pub const CONNECTION_PREFIX: &str = "~";
/// The string set of a connection's rooms, on its own item.
pub const ROOMS: &str = "rooms";
/// The token's subject, on a connection's own item.
pub const SUB: &str = "sub";
/// `true` when a token limits the channels it may join, on a connection's own item...
pub const LIMITED: &str = "limited";
/// ...and the string set of those channels (absent when there are none).
pub const ALLOWED: &str = "allowed";
/// The second its latest messages were counted in, and their count (the message limit).
pub const WINDOW: &str = "window";
pub const COUNT: &str = "messages";
/// When `$connect` ran, unix milliseconds.
pub const CONNECTED_AT: &str = "connectedAt";
/// The TTL attribute, unix seconds (the template enables TTL on it).
pub const EXPIRES_AT: &str = "expiresAt";

/// A [`ConnectionStore`] on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) page_limit: Option<i32>,
}

impl DynamoStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            table: table.into(),
            page_limit: None,
        }
    }

    /// Caps the items read per page (DynamoDB's own cap is 1 MB of data).
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table (on-demand, keyed `room` + `connectionId`, TTL on `expiresAt`)
    /// unless it exists. On AWS the
    /// CloudFormation template owns the table; this serves `mb dev --dynamodb-endpoint`.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attribute(ROOM)?)
            .attribute_definitions(string_attribute(KEY)?)
            .key_schema(key(ROOM, KeyType::Hash)?)
            .key_schema(key(KEY, KeyType::Range)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("ResourceInUseException") => {
                return self.check_keys().await;
            }
            Err(e) => return Err(error("CreateTable", &e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(EXPIRES_AT)
                    .build()
                    .map_err(|e| error("UpdateTimeToLive", &e))?,
            )
            .send()
            .await
            .map_err(|e| error("UpdateTimeToLive", &e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// An existing table must have this store's keys: a table made by an `mb` from before
    /// channels (keyed by `connectionId` alone) would fail every write.
    async fn check_keys(&self) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| error("DescribeTable", &e))?;
        let keys: Vec<(String, String)> = described
            .table()
            .map(|t| {
                t.key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_owned(),
                            k.key_type().as_str().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let wanted = [(ROOM, "HASH"), (KEY, "RANGE")];
        if keys
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .eq(wanted)
        {
            return Ok(());
        }
        let found: Vec<String> = keys.iter().map(|(a, b)| format!("{a} ({b})")).collect();
        Err(StoreError {
            operation: "DescribeTable",
            detail: format!(
                "table {} is keyed by {}, not by {ROOM} (HASH) and {KEY} (RANGE) as this mb needs (a table made before channels?); name another table, or delete that one",
                self.table,
                found.join(", ")
            ),
        })
    }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| error("CreateTable", &e))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| error("CreateTable", &e))
}

/// The key of a connection's own item.
fn record_key(id: &str) -> HashMap<String, AttributeValue> {
    [
        (ROOM.to_owned(), s(format!("{CONNECTION_PREFIX}{id}"))),
        (KEY.to_owned(), s(id.to_owned())),
    ]
    .into()
}

/// The key of a membership item.
fn member_key(room: &Room, id: &str) -> HashMap<String, AttributeValue> {
    [
        (ROOM.to_owned(), s(room.key().to_owned())),
        (KEY.to_owned(), s(id.to_owned())),
    ]
    .into()
}

pub(super) fn s(value: String) -> AttributeValue {
    AttributeValue::S(value)
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The rooms in an item's `rooms` set (keys that name no room are skipped).
fn rooms(item: &HashMap<String, AttributeValue>) -> BTreeSet<Room> {
    match item.get(ROOMS) {
        Some(AttributeValue::Ss(keys)) => keys.iter().filter_map(|k| Room::from_key(k)).collect(),
        _ => BTreeSet::new(),
    }
}

pub(super) fn is_condition_failure<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    matches!(err, SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException"))
}

pub(super) fn error(
    operation: &'static str,
    err: &(dyn std::error::Error + 'static),
) -> StoreError {
    StoreError {
        operation,
        detail: DisplayErrorContext(err).to_string(),
    }
}

impl DynamoStore {
    async fn put_member(&self, room: &Room, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(member_key(room, &connection.id)))
            .item(CONNECTED_AT, n(connection.connected_at_ms))
            .item(EXPIRES_AT, n(connection.expires_at))
            .send()
            .await
            .map_err(|e| error("PutItem", &e))?;
        Ok(())
    }

    /// Deletes a membership item, only if it has `connected_at_ms` when given.
    async fn delete_member(
        &self,
        room: &Room,
        id: &str,
        connected_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(member_key(room, id)));
        if let Some(seen) = connected_at_ms {
            delete = delete
                .condition_expression("#c = :seen")
                .expression_attribute_names("#c", CONNECTED_AT)
                .expression_attribute_values(":seen", n(seen));
        }
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(error("DeleteItem", &e)),
        }
    }

    async fn delete_members(&self, rooms: &BTreeSet<Room>, id: &str) -> Result<(), StoreError> {
        try_join_all(rooms.iter().map(|room| self.delete_member(room, id, None))).await?;
        Ok(())
    }

    /// Adds or removes `room` in the connection's `rooms` set, if its item exists.
    async fn update_rooms(&self, id: &str, verb: &str, room: &Room) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(record_key(id)))
            .update_expression(format!("{verb} #rooms :room"))
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_names("#id", KEY)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.key().to_owned()]))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            // No record: the connection is gone (or never stored); nothing to update.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(error("UpdateItem", &e)),
        }
    }
}

impl ConnectionStore for DynamoStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        // Memberships first: a record always has its memberships, and memberships left
        // by a failed connect expire or answer 410 and are deleted.
        try_join_all(
            connection
                .rooms
                .iter()
                .map(|room| self.put_member(room, connection)),
        )
        .await?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_key(&connection.id)))
            .item(CONNECTED_AT, n(connection.connected_at_ms))
            .item(EXPIRES_AT, n(connection.expires_at));
        if !connection.rooms.is_empty() {
            put = put.item(
                ROOMS,
                AttributeValue::Ss(
                    connection
                        .rooms
                        .iter()
                        .map(|r| r.key().to_owned())
                        .collect(),
                ),
            );
        }
        put.send().await.map_err(|e| error("PutItem", &e))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(record_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error("GetItem", &e))?;
        Ok(got.item().map(|item| Connection {
            id: id.to_owned(),
            connected_at_ms: number(item, CONNECTED_AT),
            expires_at: number(item, EXPIRES_AT),
            rooms: rooms(item),
            sub: match item.get(SUB) {
                Some(AttributeValue::S(sub)) => Some(sub.clone()),
                _ => None,
            },
            allowed: match (item.get(LIMITED), item.get(ALLOWED)) {
                (Some(AttributeValue::Bool(true)), Some(AttributeValue::Ss(names))) => Some(
                    names
                        .iter()
                        .filter_map(|n| crate::wire::channel::Channel::parse(n).ok())
                        .collect(),
                ),
                (Some(AttributeValue::Bool(true)), _) => Some(BTreeSet::new()),
                _ => None,
            },
        }))
    }

    async fn join(&self, connection: &Connection, room: &Room) -> Result<(), StoreError> {
        self.put_member(room, connection).await?;
        self.update_rooms(&connection.id, "ADD", room).await
    }

    async fn leave(&self, id: &str, room: &Room) -> Result<(), StoreError> {
        self.update_rooms(id, "DELETE", room).await?;
        self.delete_member(room, id, None).await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(record_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| error("DeleteItem", &e))?;
        if let Some(old) = deleted.attributes() {
            self.delete_members(&rooms(old), id).await?;
        }
        Ok(())
    }

    async fn delete_seen(&self, row: &Row, room: &Room) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(record_key(&row.id)))
            .condition_expression("#c = :seen")
            .expression_attribute_names("#c", CONNECTED_AT)
            .expression_attribute_values(":seen", n(row.connected_at_ms))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match deleted {
            Ok(deleted) => {
                let mut old = deleted.attributes().map(rooms).unwrap_or_default();
                old.insert(room.clone());
                self.delete_members(&old, &row.id).await?;
                Ok(true)
            }
            Err(e) if is_condition_failure(&e) => {
                // Stored again since (kept), or its record is already gone: then this
                // membership, if it is still the one read, is a leftover.
                self.delete_member(room, &row.id, Some(row.connected_at_ms))
                    .await?;
                Ok(false)
            }
            Err(e) => Err(error("DeleteItem", &e)),
        }
    }

    async fn members(
        &self,
        room: &Room,
        now_s: i64,
        after: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#r = :room")
            .projection_expression("#id, #c")
            // A row without the TTL attribute never expires, as DynamoDB's TTL treats it.
            .filter_expression("attribute_not_exists(#e) OR #e > :now")
            .expression_attribute_names("#r", ROOM)
            .expression_attribute_names("#id", KEY)
            .expression_attribute_names("#c", CONNECTED_AT)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":room", s(room.key().to_owned()))
            .expression_attribute_values(":now", n(now_s))
            .consistent_read(true)
            .set_exclusive_start_key(after.map(|id| member_key(room, id)))
            .set_limit(self.page_limit)
            .into_paginator()
            .send();
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("Query", &e))?;
            rows.extend(page.items().iter().filter_map(|item| {
                let Some(AttributeValue::S(id)) = item.get(KEY) else {
                    return None;
                };
                Some(Row::new(id.clone(), number(item, CONNECTED_AT)))
            }));
        }
        Ok(rows)
    }

    async fn count_message(&self, id: &str, window: i64) -> Result<u32, StoreError> {
        // The usual case first (another message in the same second), then a new
        // window; a race between two invocations opening the window retries the count.
        for attempt in 0..3 {
            let same = attempt % 2 == 0;
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(record_key(id)))
                .expression_attribute_names("#id", KEY)
                .expression_attribute_names("#w", WINDOW)
                .expression_attribute_names("#n", COUNT)
                .expression_attribute_values(":w", n(window))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::UpdatedNew);
            update = if same {
                update
                    .update_expression("ADD #n :one")
                    .condition_expression("attribute_exists(#id) AND #w = :w")
            } else {
                update
                    .update_expression("SET #w = :w, #n = :one")
                    .condition_expression(
                        "attribute_exists(#id) AND (attribute_not_exists(#w) OR #w < :w)",
                    )
            };
            match update.send().await {
                Ok(out) => {
                    let count = out.attributes().map(|a| number(a, COUNT)).unwrap_or(1);
                    return Ok(u32::try_from(count).unwrap_or(u32::MAX));
                }
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(error("UpdateItem", &e)),
            }
        }
        // No record (or a clock behind the window stored): nothing to count against.
        Ok(0)
    }

    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression("#id")
            .filter_expression("begins_with(#r, :record)")
            .expression_attribute_names("#id", KEY)
            .expression_attribute_names("#r", ROOM)
            .expression_attribute_values(":record", s(CONNECTION_PREFIX.to_owned()))
            .consistent_read(true)
            .set_limit(self.page_limit)
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("Scan", &e))?;
            ids.extend(page.items().iter().filter_map(|item| match item.get(KEY) {
                Some(AttributeValue::S(id)) => Some(id.clone()),
                _ => None,
            }));
        }
        Ok(ids)
    }
}
