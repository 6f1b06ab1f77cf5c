//! Dedupe claims in the same table as the rooms: one item per key, `room = "="` + the
//! key, `connectionId = "="`, with `owner`, `expiresAt` (TTL) and, once the delivery is
//! done, `answer`. `=` cannot start a channel name, as `~`, `^`, `!` and `#` cannot. A
//! claim is one conditional PutItem (no item, or an expired one: TTL deletes lazily);
//! only a lost claim reads the item (strongly consistent) to say what holds it.

use aws_sdk_dynamodb::types::AttributeValue;

use super::dedupe::{Claim, DedupeStore};
use super::dynamodb::{DynamoStore, EXPIRES_AT, KEY, ROOM, error, is_condition_failure, n, s};
use super::error::StoreError;

/// What starts the `room` of a dedupe claim, and is its `connectionId`.
pub const DEDUPE_PREFIX: &str = "=";
/// Who holds the claim (an SQS message id, or a publish's own id), and what the delivery
/// answered.
pub const OWNER: &str = "owner";
pub const ANSWER: &str = "answer";

fn claim_key(key: &str) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        (ROOM.to_owned(), s(format!("{DEDUPE_PREFIX}{key}"))),
        (KEY.to_owned(), s(DEDUPE_PREFIX.to_owned())),
    ])
}

impl DedupeStore for DynamoStore {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_s: i64,
        expires_at: i64,
    ) -> Result<Claim, StoreError> {
        // Twice at most: a claim that expired between the put and the read is gone.
        for _ in 0..2 {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(claim_key(key)))
                .item(OWNER, s(owner.to_owned()))
                .item(EXPIRES_AT, n(expires_at))
                .condition_expression("attribute_not_exists(#r) OR #e < :now")
                .expression_attribute_names("#r", ROOM)
                .expression_attribute_names("#e", EXPIRES_AT)
                .expression_attribute_values(":now", n(now_s))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Claim::Won),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(error("PutItem", &e)),
            }
            let read = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(claim_key(key)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| error("GetItem", &e))?;
            let Some(item) = read.item() else { continue };
            if let Some(AttributeValue::S(answer)) = item.get(ANSWER) {
                return Ok(Claim::Done {
                    answer: answer.clone(),
                });
            }
            let holder = match item.get(OWNER) {
                Some(AttributeValue::S(holder)) => holder.as_str(),
                _ => "",
            };
            return Ok(Claim::Held {
                same_owner: holder == owner,
            });
        }
        Err(StoreError {
            operation: "PutItem",
            detail: format!("the claim on {key:?} kept changing under the read"),
        })
    }

    async fn settle(&self, key: &str, answer: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(claim_key(key)))
            .update_expression("SET #a = :a")
            .expression_attribute_names("#a", ANSWER)
            .expression_attribute_values(":a", s(answer.to_owned()))
            .send()
            .await
            .map_err(|e| error("UpdateItem", &e))?;
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(claim_key(key)))
            .condition_expression("#o = :o AND attribute_not_exists(#a)")
            .expression_attribute_names("#o", OWNER)
            .expression_attribute_names("#a", ANSWER)
            .expression_attribute_values(":o", s(owner.to_owned()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(error("DeleteItem", &e)),
        }
    }
}
