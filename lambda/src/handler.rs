//! One function for the three routes: an API Gateway WebSocket event in, a response out.
//!
//! - `$connect`: store the connection (with its TTL); a storage failure refuses it (500).
//! - `$disconnect`: forget the connection (a missing row is fine).
//! - `$default` (and any other route key): shape the message, read every connection,
//!   fan out, delete the connections that answered 410 Gone. A message that cannot be
//!   broadcast (too large, not text, storage down) gets the sender a JSON error frame.
//!
//! Every invocation logs one line: route, recipients, delivered, gone, failed, duration.
//! Payloads are never logged.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use futures_util::StreamExt;
use futures_util::stream;

use crate::config::Settings;
use crate::fanout::{Report, fanout};
use crate::gateway::{Gateway, Poster, management_endpoint};
use crate::message::{self, Refusal};
use crate::store::{Connection, ConnectionStore};

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
}

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    pub fn new(store: S, gateway: G, settings: Settings) -> Self {
        Self {
            store,
            gateway,
            settings,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one event. Never fails: every problem becomes a status code, an error
    /// frame for the sender, or a log line.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        self.invoke(event).await.response
    }

    /// [`Handler::handle`], also returning what the invocation did (for tests and
    /// benchmarks).
    pub async fn invoke(&self, event: ApiGatewayWebsocketProxyRequest) -> Invocation {
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
            Route::Default => (200, self.broadcast(connection_id, &event).await),
        };
        tracing::info!(
            route = route.key(),
            status,
            recipients = report.recipients,
            delivered = report.delivered,
            gone = report.gone.len(),
            failed = report.failed,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "invocation"
        );
        Invocation {
            response: response(status),
            report,
        }
    }

    async fn connect(&self, connection_id: &str, connected_at_ms: i64) -> i64 {
        let connected_at_ms = if connected_at_ms > 0 {
            connected_at_ms
        } else {
            now_ms()
        };
        match self
            .store
            .put(&Connection::new(connection_id, connected_at_ms))
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

    async fn broadcast(&self, sender: &str, event: &ApiGatewayWebsocketProxyRequest) -> Report {
        let context = &event.request_context;
        let now = if context.request_time_epoch > 0 {
            context.request_time_epoch
        } else {
            now_ms()
        };
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
        let mut recipients = match self.store.scan().await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::error!(%err, "could not read the connections; message not broadcast");
                return refuse(&poster, sender, Refusal::StorageUnavailable, now).await;
            }
        };
        // The sender is demonstrably connected even if its row is missing.
        if !recipients.iter().any(|id| id == sender) {
            recipients.push(sender.to_owned());
        }
        let report = fanout(
            &poster,
            recipients,
            sender,
            &shaped,
            self.settings.concurrency,
        )
        .await;
        self.forget(&report.gone).await;
        report
    }

    /// Deletes the rows of connections that answered 410 Gone, as many at once as posts.
    async fn forget(&self, gone: &[String]) {
        // Owned ids: futures borrowing the slice's items trip rustc's higher-ranked
        // `Send` inference when this handler runs in a spawned task.
        let mut deletes = stream::iter(gone.iter().cloned())
            .map(|id| async move { self.store.delete(&id).await })
            .buffer_unordered(self.settings.concurrency.max(1));
        while let Some(result) = deletes.next().await {
            if let Err(err) = result {
                tracing::warn!(%err, "could not delete a gone connection; TTL will");
            }
        }
    }
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

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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

    fn event(route: &str, id: &str, body: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_value(serde_json::json!({
            "requestContext": {
                "routeKey": route,
                "connectionId": id,
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "stage": "dev",
                "eventType": match route { "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" },
                "connectedAt": 1_700_000_000_000i64,
                "requestTimeEpoch": 1_700_000_000_500i64,
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
            management_endpoint: None,
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
        assert_eq!(row.connected_at_ms, 1_700_000_000_000);
        assert_eq!(row.expires_at, 1_700_000_000 + 7_800);
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
            serde_json::json!({"data": "hi there", "_now": 1_700_000_000_500i64, "_me": true})
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
    async fn a_sender_without_a_row_still_gets_its_copy() {
        let (h, rec) = handler(&[]);
        h.handle(event("$connect", "a", None)).await;
        h.handle(event("$default", "ghost", Some("x"))).await;
        let bodies = rec.bodies();
        assert_eq!(bodies["ghost"]["_me"], true);
        assert_eq!(bodies["a"]["_me"], false);
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
