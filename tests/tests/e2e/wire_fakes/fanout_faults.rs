//! Delivery faults against a loopback stand-in of the Management API, each case through
//! both clients (the direct one the function ships with and the real
//! `aws-sdk-apigatewaymanagement` client): only 410 removes a connection; throttling,
//! server errors, 403 and timeouts keep it; a slow recipient holds one slot of the
//! concurrency bound and nothing more.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use mb_lambda::Handler;
use mb_lambda::store::{Connection, ConnectionStore, MemoryStore};
use mb_tests::fake_gateway::{Behaviour, FakeGateway, Options};
use mb_tests::post_client::{AnyGateway, PostClient};

mb_tests::with_both_clients!(
    gone_connections_and_only_they_are_removed,
    throttling_and_server_errors_remove_nobody,
    a_timeout_keeps_the_connection,
    a_slow_recipient_does_not_stall_the_others,
    https_endpoints_work_with_a_trusted_certificate,
);

/// The connections `ids`, in memory, broadcast to through `client`.
async fn handler_for(
    fake: &FakeGateway,
    client: PostClient,
    ids: &[String],
    concurrency: usize,
) -> Handler<MemoryStore, AnyGateway> {
    fake.handler_using(client, stored(ids).await, concurrency)
        .await
}

async fn stored(ids: &[String]) -> MemoryStore {
    let store = MemoryStore::new();
    for id in ids {
        store
            .put(&Connection::new(id.clone(), mb_tests::a_minute_ago()))
            .await
            .unwrap();
    }
    store
}

fn ids(n: usize) -> Vec<String> {
    // Ids shaped like API Gateway's, with characters the SDK must URL-encode.
    (0..n).map(|i| format!("c{i:02}+/x=")).collect()
}

async fn remaining(handler: &Handler<MemoryStore, AnyGateway>) -> BTreeSet<String> {
    handler.store().scan().await.unwrap().into_iter().collect()
}

async fn gone_connections_and_only_they_are_removed(client: PostClient) {
    let fake = FakeGateway::start(Options::default()).await;
    let all = ids(20);
    let gone = [&all[3], &all[7], &all[11]];
    for id in gone {
        fake.set(id, Behaviour::gone());
    }
    let handler = handler_for(&fake, client, &all, 8).await;
    handler
        .handle(mb_tests::event("$default", &all[0], Some("hi")))
        .await;
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|id| !gone.contains(id))
        .cloned()
        .collect();
    assert_eq!(remaining(&handler).await, expected);
    // Every connection was tried, with its id decoded intact on the server side.
    let reached: BTreeSet<String> = fake
        .received()
        .into_iter()
        .map(|r| r.connection_id)
        .collect();
    assert_eq!(reached, all.iter().cloned().collect());
}

async fn throttling_and_server_errors_remove_nobody(client: PostClient) {
    let fake = FakeGateway::start(Options::default()).await;
    let all = ids(12);
    for id in &all[1..5] {
        fake.set(id, Behaviour::throttled());
    }
    for id in &all[5..8] {
        fake.set(id, Behaviour::server_error());
    }
    fake.set(&all[8], Behaviour::forbidden());
    let handler = handler_for(&fake, client, &all, 4).await;
    handler
        .handle(mb_tests::event("$default", &all[0], Some("hi")))
        .await;
    assert_eq!(remaining(&handler).await, all.iter().cloned().collect());
    for id in &all[1..9] {
        assert!(!fake.received_by(id).is_empty(), "{id} was tried");
    }
    // The healthy ones got exactly one copy each.
    for id in all[9..].iter().chain([&all[0]]) {
        assert_eq!(fake.received_by(id).len(), 1, "{id}");
    }
}

async fn a_timeout_keeps_the_connection(client: PostClient) {
    let fake = FakeGateway::start(Options::default()).await;
    let all = ids(3);
    fake.set(&all[1], Behaviour::Hold);
    let sdk = mb_tests::sdk_config(None, None).await;
    let sdk = sdk
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let handler = fake.handler_with(client, &sdk, stored(&all).await, 4);
    handler
        .handle(mb_tests::event("$default", &all[0], Some("hi")))
        .await;
    assert_eq!(remaining(&handler).await, all.iter().cloned().collect());
    assert_eq!(fake.received_by(&all[2]).len(), 1);
}

async fn a_slow_recipient_does_not_stall_the_others(client: PostClient) {
    let fake = Arc::new(FakeGateway::start(Options::default()).await);
    let all = ids(41);
    let slow = all[5].clone();
    fake.set(&slow, Behaviour::Hold);
    let concurrency = 4;
    let handler = Arc::new(handler_for(&fake, client, &all, concurrency).await);
    let broadcast = tokio::spawn({
        let handler = Arc::clone(&handler);
        let sender = all[0].clone();
        async move {
            handler
                .handle(mb_tests::event("$default", &sender, Some("hi")))
                .await
        }
    });
    // While the slow recipient is held, everyone else is delivered (counted by id: a held
    // post that times out is retried).
    let total = all.len();
    let others_done = mb_tests::eventually(Duration::from_secs(20), || {
        let fake = Arc::clone(&fake);
        async move {
            let reached: BTreeSet<String> = fake
                .received()
                .into_iter()
                .map(|r| r.connection_id)
                .collect();
            reached.len() == total
        }
    })
    .await;
    assert!(
        others_done,
        "only {} of {} posts arrived while one recipient was held",
        fake.received().len(),
        all.len()
    );
    assert!(
        !broadcast.is_finished(),
        "the broadcast waits for the held recipient"
    );
    assert!(
        fake.max_in_flight() <= concurrency,
        "{} posts in flight, bound is {concurrency}",
        fake.max_in_flight()
    );
    fake.release();
    let response = tokio::time::timeout(Duration::from_secs(20), broadcast)
        .await
        .expect("the broadcast ends once released")
        .unwrap();
    assert_eq!(response.status_code, 200);
    assert_eq!(remaining(&handler).await.len(), 41);
}

async fn https_endpoints_work_with_a_trusted_certificate(client: PostClient) {
    let fake = FakeGateway::start(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert!(fake.endpoint.starts_with("https://"));
    let all = ids(5);
    fake.set(&all[2], Behaviour::gone());
    let handler = handler_for(&fake, client, &all, 2).await;
    handler
        .handle(mb_tests::event("$default", &all[0], Some("hi")))
        .await;
    assert_eq!(fake.received().len(), 5);
    assert_eq!(remaining(&handler).await.len(), 4);
}
