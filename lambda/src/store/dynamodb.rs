//! The DynamoDB connection table: one item per connection, keyed by `connectionId`, with
//! `connectedAt` (ms) and the TTL attribute `expiresAt` (epoch seconds).
//!
//! The scan follows `LastEvaluatedKey` through every page (the old backend read only the
//! first 1 MB page, so connections past it never got messages), projects only the key and
//! `connectedAt`, and filters out rows whose `expiresAt` has passed: TTL deletes lazily,
//! often days later. A 410's delete is conditional on the `connectedAt` the scan read.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::{Connection, ConnectionStore, Row, StoreError};

/// The partition key attribute.
pub const KEY: &str = "connectionId";
/// When `$connect` ran, unix milliseconds.
pub const CONNECTED_AT: &str = "connectedAt";
/// The TTL attribute, unix seconds (the template enables TTL on it).
pub const EXPIRES_AT: &str = "expiresAt";

/// A [`ConnectionStore`] on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    page_limit: Option<i32>,
}

impl DynamoStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            table: table.into(),
            page_limit: None,
        }
    }

    /// Caps the items read per scan page (DynamoDB's own cap is 1 MB of data).
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

    /// Creates the table (on-demand, TTL on `expiresAt`) unless it exists. On AWS the
    /// CloudFormation template owns the table; this serves `mb dev --dynamodb-endpoint`.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| error("CreateTable", &e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| error("CreateTable", &e))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("ResourceInUseException") => {
                return Ok(());
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

fn error(operation: &'static str, err: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError {
        operation,
        detail: DisplayErrorContext(err).to_string(),
    }
}

impl ConnectionStore for DynamoStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(connection.id.clone()))
            .item(
                CONNECTED_AT,
                AttributeValue::N(connection.connected_at_ms.to_string()),
            )
            .item(
                EXPIRES_AT,
                AttributeValue::N(connection.expires_at.to_string()),
            )
            .send()
            .await
            .map_err(|e| error("PutItem", &e))?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_owned()))
            .send()
            .await
            .map_err(|e| error("DeleteItem", &e))?;
        Ok(())
    }

    async fn delete_seen(&self, row: &Row) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(row.id.clone()))
            .condition_expression("#c = :seen")
            .expression_attribute_names("#c", CONNECTED_AT)
            .expression_attribute_values(
                ":seen",
                AttributeValue::N(row.connected_at_ms.to_string()),
            )
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(error("DeleteItem", &e)),
        }
    }

    async fn live(&self, now_s: i64, after: Option<&str>) -> Result<Vec<Row>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression("#id, #c")
            // A row without the TTL attribute never expires, as DynamoDB's TTL treats it.
            .filter_expression("attribute_not_exists(#e) OR #e > :now")
            .expression_attribute_names("#id", KEY)
            .expression_attribute_names("#c", CONNECTED_AT)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":now", AttributeValue::N(now_s.to_string()))
            .consistent_read(true)
            .set_exclusive_start_key(
                after.map(|key| [(KEY.to_owned(), AttributeValue::S(key.to_owned()))].into()),
            )
            .set_limit(self.page_limit)
            .into_paginator()
            .send();
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("Scan", &e))?;
            rows.extend(page.items().iter().filter_map(|item| {
                let Some(AttributeValue::S(id)) = item.get(KEY) else {
                    return None;
                };
                let connected_at_ms = match item.get(CONNECTED_AT) {
                    Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
                    _ => 0,
                };
                Some(Row {
                    id: id.clone(),
                    connected_at_ms,
                })
            }));
        }
        Ok(rows)
    }

    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression("#id")
            .expression_attribute_names("#id", KEY)
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
