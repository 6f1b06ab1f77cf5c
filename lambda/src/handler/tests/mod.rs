//! The handler's tests, by what they exercise, over one rig: a gateway that records every
//! post ([`Recorder`]), the in-memory store, and events as API Gateway sends them.

mod access;
mod broadcast;
mod bus;
mod channels;
mod door;
mod faulty;
mod history;

use super::*;
use crate::clock::now_ms;
use crate::delivery::continuation::Continuation;
use crate::event::Event;
use crate::gateway::PostFailure;
use crate::gateway::Poster;
use crate::store::{Connection, Room, Row};
use crate::store::{MemoryStore, StoreError};
use crate::wire::message;
use base64::Engine;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// The frames posted to `id`, in order, as JSON.
    fn frames_to(&self, id: &str) -> Vec<serde_json::Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, to, _)| to == id)
            .map(|(_, _, data)| serde_json::from_slice(data).unwrap())
            .collect()
    }

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

/// A `$connect` event whose URL asked for `query`.
fn connect_with(id: &str, query: &[(&str, &str)]) -> ApiGatewayWebsocketProxyRequest {
    let mut event = serde_json::to_value(event("$connect", id, None)).unwrap();
    let mut multi = serde_json::Map::new();
    for (k, v) in query {
        multi
            .entry(k.to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(v));
    }
    event["multiValueQueryStringParameters"] = serde_json::Value::Object(multi);
    serde_json::from_value(event).unwrap()
}

impl Recorder {
    fn clear(&self) {
        self.posts.lock().unwrap().clear();
    }
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.bodies().into_keys().collect();
        ids.sort();
        ids
    }
}

/// A `$connect` event as API Gateway sends it after the authorizer allowed `context`,
/// with `headers`.
fn connect_as(
    id: &str,
    query: &[(&str, &str)],
    context: serde_json::Value,
    headers: &[(&str, &str)],
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = serde_json::to_value(connect_with(id, query)).unwrap();
    event["requestContext"]["authorizer"] = context;
    event["headers"] = serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect(),
    );
    serde_json::from_value(event).unwrap()
}

fn with_settings(settings: Settings) -> (Handler<MemoryStore, Recorder>, Recorder) {
    let recorder = Recorder::default();
    (
        Handler::new(MemoryStore::new(), recorder.clone(), settings),
        recorder,
    )
}

fn body_of(response: &ApiGatewayProxyResponse) -> serde_json::Value {
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("no JSON body: {other:?}"),
    }
}
