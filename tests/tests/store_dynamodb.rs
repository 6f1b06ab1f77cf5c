//! The DynamoDB connection store against moto, through the real SDK client: rows carry
//! their TTL, deletes are idempotent, scans follow every page (so every connection of a
//! table larger than one scan page receives a broadcast), skip expired rows and resume
//! after a key, and a gone row's delete is conditional on the row read.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use mb_lambda::store::dynamodb::{CONNECTED_AT, EXPIRES_AT, KEY};
use mb_lambda::store::{Connection, ConnectionStore, DynamoStore, Row};
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::moto::Moto;

async fn table(moto: &Moto, name: &str) -> DynamoStore {
    let store = DynamoStore::new(&moto.sdk_config().await, name);
    store
        .ensure_table()
        .await
        .expect("create the table in moto");
    store
}

/// Writes `count` rows directly (BatchWriteItem), each padded with `padding` bytes in an
/// attribute the scan does not project.
async fn fill(store: &DynamoStore, count: usize, padding: usize) -> BTreeSet<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("conn-{i:05}")).collect();
    for chunk in ids.chunks(25) {
        let writes = chunk
            .iter()
            .map(|id| {
                let put = PutRequest::builder()
                    .item(KEY, AttributeValue::S(id.clone()))
                    .item(CONNECTED_AT, AttributeValue::N("0".into()))
                    .item("padding", AttributeValue::S("p".repeat(padding.max(1))))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        store
            .client()
            .batch_write_item()
            .request_items(store.table(), writes)
            .send()
            .await
            .expect("batch write");
    }
    ids.into_iter().collect()
}

#[tokio::test]
async fn put_stores_the_ttl_and_delete_is_idempotent() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "ttl").await;
    let connection = Connection::new("abc=", 1_700_000_000_000);
    store.put(&connection).await.unwrap();

    let item = store
        .client()
        .get_item()
        .table_name("ttl")
        .key(KEY, AttributeValue::S("abc=".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the stored row");
    assert_eq!(
        item[CONNECTED_AT],
        AttributeValue::N("1700000000000".into())
    );
    // Two hours (API Gateway's limit) and ten minutes after connecting, in epoch seconds.
    assert_eq!(
        item[EXPIRES_AT],
        AttributeValue::N((1_700_000_000 + 7_800).to_string())
    );

    assert_eq!(store.scan().await.unwrap(), vec!["abc=".to_owned()]);
    store.delete("abc=").await.unwrap();
    store
        .delete("abc=")
        .await
        .expect("deleting a missing row is fine");
    assert!(store.scan().await.unwrap().is_empty());
}

#[tokio::test]
async fn ensure_table_turns_on_ttl_and_is_idempotent() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "twice").await;
    store
        .ensure_table()
        .await
        .expect("a second call finds the table");
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name("twice")
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description.expect("TTL description");
    assert_eq!(spec.attribute_name.as_deref(), Some(EXPIRES_AT));
    assert_eq!(
        spec.time_to_live_status,
        Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );
}

#[tokio::test]
async fn scan_reads_every_page_with_a_small_page_limit() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "pages").await.with_page_limit(20);
    let ids = fill(&store, 250, 1).await;
    let scanned: Vec<String> = store.scan().await.unwrap();
    assert_eq!(scanned.len(), 250, "no duplicates, none missing");
    assert_eq!(scanned.into_iter().collect::<BTreeSet<_>>(), ids);
}

#[tokio::test]
async fn scan_reads_past_the_one_megabyte_page() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "big").await;
    // 300 rows of 4 KB: 1.2 MB, more than one DynamoDB scan page.
    let ids = fill(&store, 300, 4096).await;
    let first_page = store
        .client()
        .scan()
        .table_name("big")
        .send()
        .await
        .unwrap();
    assert!(
        first_page.last_evaluated_key.is_some() && first_page.items().len() < 300,
        "the table should need more than one page (got {} items in the first)",
        first_page.items().len()
    );
    let scanned: BTreeSet<String> = store.scan().await.unwrap().into_iter().collect();
    assert_eq!(scanned, ids);
}

#[tokio::test]
async fn a_broadcast_reaches_every_connection_across_pages() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "fanout").await.with_page_limit(25);
    let ids = fill(&store, 120, 1).await;
    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 16).await;
    let response = handler
        .handle(mb_tests::event("$default", "conn-00007", Some("hello")))
        .await;
    assert_eq!(response.status_code, 200);
    let received = fake.received();
    let reached: BTreeSet<String> = received.iter().map(|r| r.connection_id.clone()).collect();
    assert_eq!(reached, ids);
    assert_eq!(received.len(), 120, "each connection exactly once");
    for r in &received {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["data"], "hello");
        assert_eq!(body["_me"], r.connection_id == "conn-00007");
    }
}

#[tokio::test]
async fn storage_failures_refuse_the_connect_and_tell_the_sender() {
    let Some(moto) = Moto::start() else { return };
    // No such table: every call fails with ResourceNotFoundException.
    let store = DynamoStore::new(&moto.sdk_config().await, "missing");
    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 4).await;
    let connect = handler.handle(mb_tests::event("$connect", "a", None)).await;
    assert_eq!(
        connect.status_code, 500,
        "a connection that cannot be stored is refused"
    );
    handler
        .handle(mb_tests::event("$default", "a", Some("secret")))
        .await;
    let replies = fake.received_by("a");
    assert_eq!(replies.len(), 1);
    let reply: serde_json::Value = serde_json::from_slice(&replies[0]).unwrap();
    assert_eq!(reply["error"], "storage_unavailable");
    assert_eq!(fake.received().len(), 1, "nobody else was sent anything");
}

#[tokio::test]
async fn expired_rows_are_not_live_and_a_scan_resumes_after_a_key() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "live").await.with_page_limit(3);
    let now_ms = mb_lambda::handler::now_ms();
    for i in 0..10 {
        let mut connection = Connection::new(format!("c{i}"), now_ms - 60_000);
        if i % 3 == 0 {
            // TTL has not deleted it yet: DynamoDB deletes lazily, often days later.
            connection.expires_at = now_ms / 1000 - 1;
        }
        store.put(&connection).await.unwrap();
    }
    let live = store.live(now_ms / 1000, None).await.unwrap();
    let ids: Vec<&str> = live.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c4", "c5", "c7", "c8"]);
    assert!(live.iter().all(|r| r.connected_at_ms == now_ms - 60_000));
    // Resuming after a key, even one that no longer exists, reads only what follows it.
    store.delete("c4").await.unwrap();
    let after: Vec<String> = store
        .live(now_ms / 1000, Some("c4"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(after, ["c5", "c7", "c8"]);
}

#[tokio::test]
async fn a_gone_row_is_deleted_only_if_it_is_the_row_read() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "seen").await;
    store.put(&Connection::new("a=", 1_000)).await.unwrap();
    let stale = Row {
        id: "a=".into(),
        connected_at_ms: 999,
    };
    assert!(
        !store.delete_seen(&stale).await.unwrap(),
        "a newer row is kept"
    );
    assert_eq!(store.scan().await.unwrap(), ["a="]);
    let seen = Row {
        id: "a=".into(),
        connected_at_ms: 1_000,
    };
    assert!(store.delete_seen(&seen).await.unwrap());
    assert!(store.scan().await.unwrap().is_empty());
    assert!(
        !store.delete_seen(&seen).await.unwrap(),
        "nothing left to delete"
    );
}

#[tokio::test]
async fn a_broadcast_posts_nothing_to_expired_rows() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "expired").await;
    let now_ms = mb_lambda::handler::now_ms();
    for i in 0..6 {
        let mut connection = Connection::new(format!("c{i}"), now_ms - 60_000);
        if i >= 3 {
            connection.expires_at = now_ms / 1000 - 1;
        }
        store.put(&connection).await.unwrap();
    }
    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 4).await;
    handler
        .handle(mb_tests::event("$default", "c0", Some("live only")))
        .await;
    let reached: BTreeSet<String> = fake
        .received()
        .into_iter()
        .map(|r| r.connection_id)
        .collect();
    assert_eq!(reached, ["c0", "c1", "c2"].map(String::from).into());
}
