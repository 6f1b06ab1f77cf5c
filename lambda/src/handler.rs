//! One function for the three routes: an API Gateway WebSocket event in, a response out;
//! and the continuation of a broadcast that one invocation could not finish.
//!
//! - `$connect`: store the connection (with its TTL); a storage failure refuses it (500).
//! - `$disconnect`: forget the connection (a missing row is fine).
//! - `$default` (and any other route key): shape the message, read the live connections,
//!   fan out (the sender's copy first), delete the connections that answered 410 Gone and
//!   are older than the connect window's grace. Before the deadline, hand the rest to a
//!   new invocation ([`crate::continuation`]). A message that cannot be broadcast (too
//!   large, not text, storage down) gets the sender a JSON error frame. A sender whose row
//!   is missing is evidently connected: its row is written again.
//!
//! Every invocation logs one line: route, status, recipients, delivered, gone,
//! connecting, throttled, failed, continued, hop, duration. Payloads are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use futures_util::StreamExt;
use futures_util::stream;

use crate::config::Settings;
use crate::continuation::{Continuation, HandOn, MAX_HOPS};
use crate::deadline::{API_GATEWAY_TIMEOUT, Budget};
use crate::fanout::{Plan, Report, fanout};
use crate::gateway::{Gateway, Poster, management_endpoint};
use crate::message::{self, Refusal};
use crate::store::{Connection, ConnectionStore, Row};

/// Which of the three behaviours an event gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Connect,
    Disconnect,
    Default,
}

impl Route {
    /// The route for an event's `routeKey` (pure). Route selection (`$request.body.action`)
    /// sends any message without a matching route to `$default`, so everything that is
    /// not a connect or disconnect is a message.
    pub fn of(route_key: Option<&str>) -> Route {
        match route_key {
            Some("$connect") => Route::Connect,
            Some("$disconnect") => Route::Disconnect,
            _ => Route::Default,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Route::Connect => "$connect",
            Route::Disconnect => "$disconnect",
            Route::Default => "$default",
        }
    }
}

/// What one invocation did.
#[derive(Debug)]
pub struct Invocation {
    pub response: ApiGatewayProxyResponse,
    /// The broadcast's totals (all zero for connect and disconnect).
    pub report: Report,
}

/// The broadcast handler over a connection store and a delivery gateway.
pub struct Handler<S, G> {
    store: S,
    gateway: G,
    settings: Settings,
    hand_on: Option<Arc<dyn HandOn>>,
}

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    pub fn new(store: S, gateway: G, settings: Settings) -> Self {
        Self {
            store,
            gateway,
            settings,
            hand_on: None,
        }
    }

    /// Hands what a deadline leaves of a broadcast to `hand_on` (without it, the rest is
    /// logged as failed).
    pub fn with_hand_on(mut self, hand_on: Arc<dyn HandOn>) -> Self {
        self.hand_on = Some(hand_on);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one event with API Gateway's deadline. Never fails: every problem becomes
    /// a status code, an error frame for the sender, or a log line.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        self.invoke(event, Instant::now() + API_GATEWAY_TIMEOUT)
            .await
            .response
    }

    /// Handles any event Lambda delivers: an API Gateway WebSocket event, or a
    /// continuation ([`Continuation::from_event`]). Returns the response JSON.
    pub async fn handle_json(
        &self,
        event: serde_json::Value,
        deadline: Instant,
    ) -> serde_json::Value {
        self.handle_any(event, deadline).await.0
    }

    /// [`Handler::handle_json`], also returning what the invocation did.
    pub async fn handle_any(
        &self,
        event: serde_json::Value,
        deadline: Instant,
    ) -> (serde_json::Value, Report) {
        if let Some(continuation) = Continuation::from_event(&event) {
            let report = match continuation {
                Ok(continuation) => self.resume(continuation, deadline).await,
                Err(err) => {
                    tracing::error!(%err, "continuation dropped");
                    Report::default()
                }
            };
            return (serde_json::json!({}), report);
        }
        let (response, report) =
            match serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(event) {
                Ok(event) => {
                    let invocation = self.invoke(event, deadline).await;
                    (invocation.response, invocation.report)
                }
                Err(err) => {
                    tracing::error!(%err, "not an API Gateway WebSocket event");
                    (response(400), Report::default())
                }
            };
        (serde_json::to_value(response).unwrap_or_default(), report)
    }

    /// [`Handler::handle`] with the function's deadline, also returning what the
    /// invocation did (for tests and benchmarks).
    pub async fn invoke(
        &self,
        event: ApiGatewayWebsocketProxyRequest,
        deadline: Instant,
    ) -> Invocation {
        let started = Instant::now();
        let context = &event.request_context;
        let route = Route::of(context.route_key.as_deref());
        let Some(connection_id) = context.connection_id.as_deref() else {
            tracing::error!(
                route = route.key(),
                "event has no requestContext.connectionId"
            );
            return Invocation {
                response: response(400),
                report: Report::default(),
            };
        };
        let (status, report) = match route {
            Route::Connect => (
                self.connect(connection_id, context.connected_at).await,
                Report::default(),
            ),
            Route::Disconnect => (self.disconnect(connection_id).await, Report::default()),
            Route::Default => {
                let budget = Budget::new(started, deadline, true);
                (200, self.broadcast(connection_id, &event, budget).await)
            }
        };
        log(route.key(), status, &report, 0, started);
        Invocation {
            response: response(status),
            report,
        }
    }

    /// Continues a broadcast another invocation handed on.
    pub async fn resume(&self, continuation: Continuation, deadline: Instant) -> Report {
        let started = Instant::now();
        let budget = Budget::new(started, deadline, false);
        let report = self.resumed(&continuation, budget).await;
        log("continuation", 200, &report, continuation.hop, started);
        report
    }

    async fn resumed(&self, c: &Continuation, budget: Budget) -> Report {
        let text = match c.decode_text() {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(%err, "continuation dropped");
                return Report::default();
            }
        };
        let shaped = message::shape(&text, c.now);
        let poster = self.gateway.poster(&c.endpoint);
        let queue: Vec<Row> = match self.store.live(now_ms() / 1000, c.after.as_deref()).await {
            Ok(rows) => rows.into_iter().filter(|r| r.id != c.sender).collect(),
            Err(err) => {
                tracing::error!(%err, "could not read the connections; the rest of the broadcast is lost");
                return Report::default();
            }
        };
        let job = Job {
            endpoint: &c.endpoint,
            sender: &c.sender,
            text: &text,
            now: c.now,
            after: c.after.clone(),
            hop: c.hop,
        };
        self.deliver(&poster, &job, &shaped, queue, c.retry.clone(), budget)
            .await
    }

    async fn connect(&self, connection_id: &str, connected_at_ms: i64) -> i64 {
        match self
            .store
            .put(&Connection::new(connection_id, or_now(connected_at_ms)))
            .await
        {
            Ok(()) => 200,
            Err(err) => {
                // Refusing the connection beats accepting a client that would never
                // receive a message.
                tracing::error!(%err, "could not store the new connection; refusing it");
                500
            }
        }
    }

    async fn disconnect(&self, connection_id: &str) -> i64 {
        if let Err(err) = self.store.delete(connection_id).await {
            // The row expires by TTL, and the next broadcast's 410 removes it anyway.
            tracing::warn!(%err, "could not delete the closed connection");
        }
        200
    }

    async fn broadcast(
        &self,
        sender: &str,
        event: &ApiGatewayWebsocketProxyRequest,
        budget: Budget,
    ) -> Report {
        let context = &event.request_context;
        let now = or_now(context.request_time_epoch);
        let Some(endpoint) = management_endpoint(
            self.settings.management_endpoint.as_deref(),
            context.domain_name.as_deref(),
            context.stage.as_deref(),
        ) else {
            tracing::error!(
                "no Management API endpoint: the event has no domainName/stage and MB_MANAGEMENT_ENDPOINT is unset"
            );
            return Report::default();
        };
        let poster = self.gateway.poster(&endpoint);

        let text = match message::frame_text(event.body.as_deref(), event.is_base64_encoded) {
            Ok(text) => text,
            Err(refusal) => return refuse(&poster, sender, refusal, now).await,
        };
        let shaped = message::shape(&text, now);
        if let Err(refusal) = message::check_size(&shaped) {
            return refuse(&poster, sender, refusal, now).await;
        }
        let mut rows = match self.store.live(now_ms() / 1000, None).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(%err, "could not read the connections; message not broadcast");
                return refuse(&poster, sender, Refusal::StorageUnavailable, now).await;
            }
        };
        // The sender's copy goes first; continuations skip the sender.
        let sender_row = match rows.iter().position(|r| r.id == sender) {
            Some(at) => rows.remove(at),
            None => self.restore(sender, or_now(context.connected_at)).await,
        };
        let mut queue = Vec::with_capacity(rows.len() + 1);
        queue.push(sender_row);
        queue.append(&mut rows);
        let job = Job {
            endpoint: &endpoint,
            sender,
            text: &text,
            now,
            after: None,
            hop: 0,
        };
        self.deliver(&poster, &job, &shaped, queue, Vec::new(), budget)
            .await
    }

    /// Writes the row of a sender that has none: it just sent, so it is connected.
    async fn restore(&self, sender: &str, connected_at_ms: i64) -> Row {
        let connection = Connection::new(sender, connected_at_ms);
        match self.store.put(&connection).await {
            Ok(()) => tracing::info!("the sender had no row; stored it again"),
            Err(err) => tracing::warn!(%err, "could not store the sender's missing row"),
        }
        Row {
            id: connection.id,
            connected_at_ms,
        }
    }

    /// Fans out to `retry` and `queue`, hands on what the deadline leaves, deletes the
    /// gone rows.
    async fn deliver<P: Poster>(
        &self,
        poster: &P,
        job: &Job<'_>,
        shaped: &message::Shaped,
        queue: Vec<Row>,
        retry: Vec<Row>,
        budget: Budget,
    ) -> Report {
        let plan = Plan {
            concurrency: self.settings.concurrency,
            budget,
            grace_ms: self.settings.connect_grace_ms,
        };
        let mut report = fanout(poster, &queue, retry, job.sender, shaped, &plan).await;
        let unstarted = queue.len() - report.started;
        if unstarted + report.pending.len() > 0 {
            // Resume after the last row started, in key order (the sender is not one).
            let after = queue[..report.started]
                .iter()
                .rev()
                .find(|r| r.id != job.sender)
                .map(|r| r.id.clone())
                .or_else(|| job.after.clone());
            self.hand_on(job, after, unstarted, &mut report).await;
        }
        self.forget(&report.gone).await;
        report
    }

    async fn hand_on(
        &self,
        job: &Job<'_>,
        after: Option<String>,
        unstarted: usize,
        report: &mut Report,
    ) {
        let left = unstarted + report.pending.len();
        let why = match &self.hand_on {
            _ if job.hop >= MAX_HOPS => {
                format!("the chain reached its limit of {MAX_HOPS} hand-ons")
            }
            None => "this handler cannot hand on".to_owned(),
            Some(hand_on) => {
                let continuation = Continuation {
                    endpoint: job.endpoint.to_owned(),
                    sender: job.sender.to_owned(),
                    text: Continuation::encode_text(job.text),
                    now: job.now,
                    after,
                    retry: std::mem::take(&mut report.pending),
                    hop: job.hop + 1,
                };
                match hand_on.hand_on(continuation.to_payload()).await {
                    Ok(()) => {
                        report.continued = left;
                        return;
                    }
                    Err(err) => {
                        report.pending = continuation.retry;
                        err
                    }
                }
            }
        };
        tracing::error!(
            not_reached = left,
            reason = %why,
            "the deadline came before every recipient was reached"
        );
        report.throttled += report.pending.len();
        report.failed += unstarted;
        report.pending.clear();
    }

    /// Deletes the rows of connections that answered 410 Gone, each only if it is still
    /// the row the broadcast read, as many at once as posts.
    async fn forget(&self, gone: &[Row]) {
        // Owned rows: futures borrowing the slice's items trip rustc's higher-ranked
        // `Send` inference when this handler runs in a spawned task.
        let mut deletes = stream::iter(gone.iter().cloned())
            .map(|row| async move { self.store.delete_seen(&row).await })
            .buffer_unordered(self.settings.concurrency.max(1));
        while let Some(result) = deletes.next().await {
            if let Err(err) = result {
                tracing::warn!(%err, "could not delete a gone connection; TTL will");
            }
        }
    }
}

/// What a broadcast needs besides its recipients.
struct Job<'a> {
    endpoint: &'a str,
    sender: &'a str,
    text: &'a str,
    now: i64,
    /// Where this invocation's scan started.
    after: Option<String>,
    hop: u32,
}

fn log(route: &str, status: i64, report: &Report, hop: u32, started: Instant) {
    tracing::info!(
        route,
        status,
        recipients = report.recipients,
        delivered = report.delivered,
        gone = report.gone.len(),
        connecting = report.connecting,
        throttled = report.throttled,
        failed = report.failed,
        continued = report.continued,
        hop,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "invocation"
    );
}

/// Sends the sender its error frame; the message itself went to nobody.
async fn refuse<P: Poster>(poster: &P, sender: &str, refusal: Refusal, now: i64) -> Report {
    tracing::warn!(reason = refusal.code(), "message refused");
    if let Err(failure) = poster.post(sender, refusal.frame(now)).await {
        tracing::warn!(%failure, "could not send the error frame to the sender");
    }
    Report::default()
}

fn response(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

/// `ms` if the event set it, else now.
fn or_now(ms: i64) -> i64 {
    if ms > 0 { ms } else { now_ms() }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The `Instant` of a deadline given in unix milliseconds (Lambda's context).
pub fn deadline_from_epoch_ms(deadline_ms: i64) -> Instant {
    let left = deadline_ms.saturating_sub(now_ms()).max(0);
    Instant::now() + Duration::from_millis(left as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::PostFailure;
    use crate::store::{MemoryStore, StoreError};
    use base64::Engine;
    use bytes::Bytes;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// Records every post; answers 410 for the ids in `gone`.
    #[derive(Clone, Default)]
    struct Recorder {
        posts: Arc<Mutex<Vec<(String, String, Bytes)>>>,
        gone: Arc<Vec<String>>,
    }

    struct RecordingPoster {
        endpoint: String,
        recorder: Recorder,
    }

    impl Gateway for Recorder {
        type Poster = RecordingPoster;
        fn poster(&self, endpoint: &str) -> RecordingPoster {
            RecordingPoster {
                endpoint: endpoint.to_owned(),
                recorder: self.clone(),
            }
        }
    }

    impl Poster for RecordingPoster {
        async fn post(&self, id: &str, data: Bytes) -> Result<(), PostFailure> {
            self.recorder
                .posts
                .lock()
                .unwrap()
                .push((self.endpoint.clone(), id.to_owned(), data));
            if self.recorder.gone.iter().any(|g| g == id) {
                Err(PostFailure::Service {
                    status: 410,
                    code: Some("GoneException".into()),
                })
            } else {
                Ok(())
            }
        }
    }

    impl Recorder {
        fn bodies(&self) -> HashMap<String, serde_json::Value> {
            self.posts
                .lock()
                .unwrap()
                .iter()
                .map(|(_, id, data)| (id.clone(), serde_json::from_slice(data).unwrap()))
                .collect()
        }
    }

    /// When the test connections connected: a minute ago, past the connect window and
    /// long before their rows expire.
    static CONNECTED_AT: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| now_ms() - 60_000);

    fn event(route: &str, id: &str, body: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
        let connected_at = *CONNECTED_AT;
        serde_json::from_value(serde_json::json!({
            "requestContext": {
                "routeKey": route,
                "connectionId": id,
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "stage": "dev",
                "eventType": match route { "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" },
                "connectedAt": connected_at,
                "requestTimeEpoch": connected_at + 500,
            },
            "body": body,
            "isBase64Encoded": false,
        }))
        .unwrap()
    }

    fn handler(gone: &[&str]) -> (Handler<MemoryStore, Recorder>, Recorder) {
        let recorder = Recorder {
            gone: Arc::new(gone.iter().map(|s| s.to_string()).collect()),
            ..Recorder::default()
        };
        let settings = Settings {
            concurrency: 4,
            ..Settings::default()
        };
        (
            Handler::new(MemoryStore::new(), recorder.clone(), settings),
            recorder,
        )
    }

    #[test]
    fn routes() {
        assert_eq!(Route::of(Some("$connect")), Route::Connect);
        assert_eq!(Route::of(Some("$disconnect")), Route::Disconnect);
        assert_eq!(Route::of(Some("$default")), Route::Default);
        assert_eq!(Route::of(Some("chat")), Route::Default);
        assert_eq!(Route::of(None), Route::Default);
    }

    #[tokio::test]
    async fn connect_stores_with_ttl_and_disconnect_forgets() {
        let (h, _) = handler(&[]);
        assert_eq!(
            h.handle(event("$connect", "a", None)).await.status_code,
            200
        );
        let row = h.store().get("a").unwrap();
        assert_eq!(row.connected_at_ms, *CONNECTED_AT);
        assert_eq!(row.expires_at, *CONNECTED_AT / 1000 + 7_800);
        assert_eq!(
            h.handle(event("$disconnect", "a", None)).await.status_code,
            200
        );
        assert!(h.store().is_empty());
        // Disconnecting twice is fine.
        assert_eq!(
            h.handle(event("$disconnect", "a", None)).await.status_code,
            200
        );
    }

    #[tokio::test]
    async fn broadcast_reaches_everyone_with_me_only_for_the_sender() {
        let (h, rec) = handler(&[]);
        for id in ["a", "b", "c"] {
            h.handle(event("$connect", id, None)).await;
        }
        h.handle(event("$default", "b", Some("hi there"))).await;
        let bodies = rec.bodies();
        assert_eq!(bodies.len(), 3);
        assert_eq!(
            bodies["b"],
            serde_json::json!({"data": "hi there", "_now": *CONNECTED_AT + 500, "_me": true})
        );
        for other in ["a", "c"] {
            assert_eq!(bodies[other]["_me"], false);
            assert_eq!(bodies[other]["data"], "hi there");
        }
        let posts = rec.posts.lock().unwrap();
        assert!(
            posts.iter().all(|(endpoint, _, _)| endpoint
                == "https://abc123.execute-api.eu-west-1.amazonaws.com/dev")
        );
    }

    #[tokio::test]
    async fn gone_connections_are_forgotten_and_only_they() {
        let (h, _) = handler(&["b", "d"]);
        for id in ["a", "b", "c", "d"] {
            h.handle(event("$connect", id, None)).await;
        }
        h.handle(event("$default", "a", Some("x"))).await;
        let mut left = h.store().scan().await.unwrap();
        left.sort();
        assert_eq!(left, vec!["a", "c"]);
    }

    #[tokio::test]
    async fn a_sender_without_a_row_gets_its_copy_and_its_row_back() {
        let (h, rec) = handler(&[]);
        h.handle(event("$connect", "a", None)).await;
        h.handle(event("$default", "ghost", Some("x"))).await;
        let bodies = rec.bodies();
        assert_eq!(bodies["ghost"]["_me"], true);
        assert_eq!(bodies["a"]["_me"], false);
        let row = h
            .store()
            .get("ghost")
            .expect("the sender's row is written again");
        assert_eq!(row.connected_at_ms, *CONNECTED_AT);
    }

    #[tokio::test]
    async fn the_senders_copy_goes_first() {
        let (h, rec) = handler(&[]);
        for id in ["a", "b", "c"] {
            h.handle(event("$connect", id, None)).await;
        }
        h.handle(event("$default", "c", Some("x"))).await;
        assert_eq!(rec.posts.lock().unwrap()[0].1, "c");
    }

    #[tokio::test]
    async fn too_large_messages_reach_only_the_sender_as_an_error() {
        let (h, rec) = handler(&[]);
        h.handle(event("$connect", "a", None)).await;
        h.handle(event("$connect", "b", None)).await;
        let big = "x".repeat(message::MAX_MESSAGE_BYTES);
        h.handle(event("$default", "a", Some(&big))).await;
        let bodies = rec.bodies();
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies["a"]["error"], "message_too_large");
    }

    #[tokio::test]
    async fn binary_frames() {
        let (h, rec) = handler(&[]);
        h.handle(event("$connect", "a", None)).await;
        let mut ev = event("$default", "a", None);
        ev.body = Some(base64::prelude::BASE64_STANDARD.encode(r#"{"k":1}"#));
        ev.is_base64_encoded = true;
        h.handle(ev).await;
        assert_eq!(rec.bodies()["a"]["k"], 1);

        let mut ev = event("$default", "a", None);
        ev.body = Some(base64::prelude::BASE64_STANDARD.encode([0xc3, 0x28]));
        ev.is_base64_encoded = true;
        h.handle(ev).await;
        assert_eq!(rec.bodies()["a"]["error"], "binary_not_supported");
    }

    /// A store whose every call fails, as DynamoDB does when throttled or misconfigured.
    struct Broken;

    impl ConnectionStore for Broken {
        async fn put(&self, _: &Connection) -> Result<(), StoreError> {
            Err(StoreError {
                operation: "PutItem",
                detail: "unavailable".into(),
            })
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError {
                operation: "DeleteItem",
                detail: "unavailable".into(),
            })
        }
        async fn delete_seen(&self, _: &Row) -> Result<bool, StoreError> {
            Err(StoreError {
                operation: "DeleteItem",
                detail: "unavailable".into(),
            })
        }
        async fn live(&self, _: i64, _: Option<&str>) -> Result<Vec<Row>, StoreError> {
            Err(StoreError {
                operation: "Scan",
                detail: "unavailable".into(),
            })
        }
        async fn scan(&self) -> Result<Vec<String>, StoreError> {
            Err(StoreError {
                operation: "Scan",
                detail: "unavailable".into(),
            })
        }
    }

    #[tokio::test]
    async fn storage_failures_refuse_connects_and_tell_the_sender() {
        let recorder = Recorder::default();
        let h = Handler::new(Broken, recorder.clone(), Settings::default());
        assert_eq!(
            h.handle(event("$connect", "a", None)).await.status_code,
            500
        );
        assert_eq!(
            h.handle(event("$disconnect", "a", None)).await.status_code,
            200
        );
        assert_eq!(
            h.handle(event("$default", "a", Some("x")))
                .await
                .status_code,
            200
        );
        let bodies = recorder.bodies();
        assert_eq!(bodies["a"]["error"], "storage_unavailable");
    }

    #[tokio::test]
    async fn management_endpoint_override_is_used() {
        let recorder = Recorder::default();
        let settings = Settings {
            concurrency: 1,
            management_endpoint: Some("http://127.0.0.1:1".into()),
            ..Settings::default()
        };
        let h = Handler::new(MemoryStore::new(), recorder.clone(), settings);
        h.handle(event("$default", "a", Some("x"))).await;
        assert_eq!(recorder.posts.lock().unwrap()[0].0, "http://127.0.0.1:1");
    }

    #[tokio::test]
    async fn events_without_a_connection_id_are_bad_requests() {
        let (h, _) = handler(&[]);
        let mut ev = event("$default", "a", Some("x"));
        ev.request_context.connection_id = None;
        assert_eq!(h.handle(ev).await.status_code, 400);
    }
}
