//! One client's WebSocket, from upgrade to close, as API Gateway runs it: `$connect`
//! decides whether the upgrade happens; the connection exists for `@connections` (posts
//! to it are queued, not 410) from the moment `$connect` returns 200, before the client
//! even reads the handshake's answer, and not a moment earlier; each frame is a
//! `$default` invocation (one at a time per connection); the end of the socket is a
//! `$disconnect`. A plain `GET /` (no upgrade) gets the browser console instead: API
//! Gateway answers it with an error, and it is the one place `mb dev` differs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mb_lambda::clock::now_ms;
use mb_lambda::event::Event;
use mb_lambda::store::ConnectionStore;
use mb_lambda::wire::message::MAX_MESSAGE_BYTES;
use tokio::sync::{mpsc, oneshot};

use super::connections::{Close, Info, OUTBOX};
use super::events::{self, ConnectionContext, Frame};
use super::state::Dev;

/// How long a closing socket may take to flush its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How a connection ended, and so what `$disconnect` says (or whether it runs).
enum Ending {
    /// The client sent a close frame.
    Closed(u16, String),
    /// The socket vanished without a close frame.
    Dropped,
    /// `mb dev` is stopping.
    Shutdown,
}

/// Each connection's read buffer: clients send small, infrequent messages.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// `GET` with `Upgrade: websocket` on any path other than `/@connections`; a plain
/// `GET /` gets the console page.
pub async fn upgrade<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        // Only a request that asks for no upgrade at all: a failed one keeps its error.
        Err(_)
            if method == Method::GET
                && uri.path() == "/"
                && !headers.contains_key(header::UPGRADE) =>
        {
            let token_required = dev.handler.settings().auth.is_some();
            return crate::console::response(&crate::console::Config::dev(token_required));
        }
        Err(rejection) => return rejection.into_response(),
    };
    if dev.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "mb dev is stopping").into_response();
    }
    let connected_at_ms = now_ms();
    let ctx = ConnectionContext {
        connection_id: new_connection_id(),
        connected_at_ms,
        source_ip: peer.ip().to_string(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        domain_name: dev.domain_name.clone(),
        stage: dev.stage.clone(),
        api_id: dev.api_id.clone(),
    };
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut event = events::connect(&ctx, &header_pairs, &query, connected_at_ms, &request_id());
    if dev.handler.settings().auth.is_some() {
        // As API Gateway: no token, 401 without calling the authorizer; a Deny, 403;
        // an Allow's context reaches $connect as requestContext.authorizer.
        let has_token = query
            .iter()
            .any(|(k, v)| k == mb_lambda::access::authorizer::TOKEN_PARAMETER && !v.is_empty());
        if !has_token {
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        }
        let request =
            events::authorizer(&ctx, &header_pairs, &query, connected_at_ms, &request_id());
        let answer = dev.authorize(request).await;
        if !mb_lambda::access::authorizer::allows(&answer) {
            return (StatusCode::FORBIDDEN, "Forbidden").into_response();
        }
        let mut context = answer["context"].clone();
        // API Gateway hands context values on as strings, with the principal.
        if let Some(fields) = context.as_object_mut() {
            for value in fields.values_mut() {
                if !value.is_string() {
                    *value = value.to_string().into();
                }
            }
            fields.insert("principalId".into(), answer["principalId"].clone());
        }
        event["requestContext"]["authorizer"] = context;
    }
    let answer = dev.invoke(event).await;
    if !(200..300).contains(&answer.status_code) {
        // API Gateway refuses the upgrade with the integration's status.
        let status = StatusCode::from_u16(answer.status_code as u16)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The route's reason when it gave one (a bad channel name), else a generic one.
        let reason = match answer.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => text,
            _ => "connection refused by the $connect route".to_owned(),
        };
        return (status, reason).into_response();
    }
    // API Gateway establishes the connection after $connect returns (the Lambda answer
    // travels back first; --connect-delay reproduces that time): until then posts to it
    // answer 410. From then on they are queued for the socket, which drains them once
    // the client reads the handshake's answer.
    if !dev.connect_delay.is_zero() {
        tokio::time::sleep(dev.connect_delay).await;
    }
    let id = ctx.connection_id.clone();
    let (outbox, rx) = mpsc::channel::<Bytes>(OUTBOX);
    let (closer, close) = oneshot::channel::<Close>();
    dev.connections.add(
        id.clone(),
        outbox,
        closer,
        Info {
            connected_at_ms: ctx.connected_at_ms,
            last_active_ms: ctx.connected_at_ms,
            source_ip: ctx.source_ip.clone(),
            user_agent: ctx.user_agent.clone(),
        },
    );
    let failed_dev = Arc::clone(&dev);
    let failed_ctx = ctx.clone();
    ws.max_message_size(MAX_MESSAGE_BYTES)
        // tungstenite allocates its read buffer up front, 128 KiB by default: 1.4 GB for
        // 10,000 clients (docs/benchmarks.md). Frames larger than it are still read whole.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_failed_upgrade(move |_| {
            // $connect stored the connection; the socket never opened.
            failed_dev.connections.remove(&failed_ctx.connection_id);
            tokio::spawn(async move {
                let event = events::disconnect(
                    &failed_ctx,
                    1006,
                    "Upgrade failed",
                    now_ms(),
                    &request_id(),
                );
                failed_dev.invoke(event).await;
            });
        })
        .on_upgrade(move |socket| {
            let tracker = dev.tracker.clone();
            tracker.track_future(run(socket, ctx, dev, rx, close))
        })
}

async fn run<S: ConnectionStore + 'static>(
    socket: WebSocket,
    ctx: ConnectionContext,
    dev: Arc<Dev<S>>,
    mut rx: mpsc::Receiver<Bytes>,
    mut close: oneshot::Receiver<Close>,
) {
    let id = ctx.connection_id.clone();
    tracing::info!(connection_id = %id, "connection opened");
    let (mut sink, mut stream) = socket.split();
    let activity = Activity::new();
    let sent = activity.clone();
    let mut writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                request = &mut close => {
                    // Err: the connection left the table without a close request.
                    if let Ok((code, reason)) = request {
                        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                    }
                    break;
                }
                data = rx.recv() => {
                    let Some(data) = data else { break };
                    // Text when it is UTF-8 (every broadcast is), as API Gateway sends it.
                    let message = Utf8Bytes::try_from(data.clone())
                        .map(Message::Text)
                        .unwrap_or(Message::Binary(data));
                    if sink.send(message).await.is_err() {
                        break;
                    }
                    // A message posted to the client counts as traffic, as on AWS.
                    sent.touch();
                }
            }
        }
    });

    let lifetime_end = activity.started + dev.max_connection;
    let ending = loop {
        let idle_end = activity.last() + dev.idle_timeout;
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    activity.touch();
                    let now = now_ms();
                    dev.connections.touch(&id, now);
                    dev.invoke(events::message(&ctx, Frame::Text(text.as_str()), now, &request_id())).await;
                }
                Some(Ok(Message::Binary(data))) => {
                    activity.touch();
                    let now = now_ms();
                    dev.connections.touch(&id, now);
                    dev.invoke(events::message(&ctx, Frame::Binary(&data), now, &request_id())).await;
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (f.code, f.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new()));
                    break Ending::Closed(code, reason);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(err)) if too_big(&err) => {
                    // API Gateway closes such a connection with 1009 (Message Too Big).
                    dev.connections.close(&id, 1009, "Message too big");
                    break Ending::Closed(1009, "Message too big".to_owned());
                }
                Some(Err(_)) | None => break Ending::Dropped,
            },
            _ = dev.shutdown.cancelled() => {
                dev.connections.close(&id, 1001, "Going away");
                dev.closed_at_shutdown.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                break Ending::Shutdown;
            }
            _ = tokio::time::sleep_until(lifetime_end) => {
                // API Gateway's 2-hour limit (--max-connection-seconds): the row's TTL
                // counts on it, and a broadcast skips expired rows, so a longer connection
                // would stop hearing anything.
                tracing::info!(connection_id = %id, "connection at its maximum lifetime: closing, as API Gateway does");
                dev.connections.close(&id, 1001, "Going away");
                break Ending::Closed(1001, "Going away".to_owned());
            }
            _ = tokio::time::sleep_until(idle_end) => {
                // Traffic since this deadline was set moves it on; else API Gateway's idle
                // timeout (--idle-timeout-seconds) closes the connection.
                if activity.last() + dev.idle_timeout > tokio::time::Instant::now() {
                    continue;
                }
                tracing::info!(connection_id = %id, "connection idle: closing, as API Gateway does");
                dev.connections.close(&id, 1001, "Going away");
                break Ending::Closed(1001, "Going away".to_owned());
            }
        }
    };

    // From here on, posts to this connection answer 410 Gone.
    dev.connections.remove(&id);
    let how = match &ending {
        Ending::Closed(..) => "closed",
        Ending::Dropped => "dropped",
        Ending::Shutdown => "shutdown",
    };
    tracing::info!(connection_id = %id, how, "connection ended");
    let disconnect = match ending {
        Ending::Closed(code, reason) => Some((code, reason)),
        Ending::Shutdown => Some((1001, "Going away".to_owned())),
        // API Gateway's $disconnect is best effort; --no-disconnect-on-drop shows what
        // happens when it does not come: the next broadcast meets a 410.
        Ending::Dropped => dev
            .disconnect_on_drop
            .then(|| (1006, "Connection lost".to_owned())),
    };
    if let Some((code, reason)) = disconnect {
        dev.invoke(events::disconnect(
            &ctx,
            code,
            &reason,
            now_ms(),
            &request_id(),
        ))
        .await;
    }
    // Let the writer flush a close frame; a stuck client does not hold us.
    if tokio::time::timeout(CLOSE_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    // Complete the close handshake the client may be waiting on.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while stream.next().await.is_some() {}
    })
    .await;
}

/// When a connection last carried a message in either direction, shared by its reader
/// and its writer: milliseconds since it opened.
#[derive(Clone)]
struct Activity {
    started: tokio::time::Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            started: tokio::time::Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> tokio::time::Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Whether a read failed because the client sent more than the 128 KB message quota.
fn too_big(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

impl<S: ConnectionStore> Dev<S> {
    /// Runs the handler on an event through the function's one door, as `bootstrap` does
    /// with the JSON Lambda hands it, and reads the route's response back.
    pub async fn invoke(&self, event: serde_json::Value) -> ApiGatewayProxyResponse {
        let event = Event::recognize(event);
        if let Event::Unknown(err) = &event {
            tracing::error!(%err, "mb dev built an event the function does not recognise");
            return status(500);
        }
        let answer = self
            .handler
            .dispatch(event, Instant::now() + self.timeout)
            .await;
        serde_json::from_value(answer.json).unwrap_or_else(|err| {
            tracing::error!(%err, "the function's answer is not a WebSocket route's response");
            status(500)
        })
    }

    /// The `$connect` authorizer's answer to `request`, through the same door.
    pub async fn authorize(&self, request: serde_json::Value) -> serde_json::Value {
        self.handler
            .dispatch(Event::recognize(request), Instant::now() + self.timeout)
            .await
            .json
    }
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}

/// An id shaped like API Gateway's: 16 base64 characters, which may include `+`, `/`, `=`
/// (so URL encoding of `@connections/{id}` is exercised as on AWS).
fn new_connection_id() -> String {
    let mut bytes = [0u8; 11];
    random(&mut bytes);
    BASE64_STANDARD.encode(bytes)
}

fn request_id() -> String {
    let mut bytes = [0u8; 16];
    random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random(bytes: &mut [u8]) {
    if getrandom::fill(bytes).is_err() {
        // No OS randomness: fall back to the clock; ids only need to be unique here.
        let seed = now_ms().to_le_bytes();
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed[i % 8] ^ n[i % 8].rotate_left(i as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let a = new_connection_id();
        assert_eq!(a.len(), 16);
        assert!(a.ends_with('='));
        assert_ne!(a, new_connection_id());
    }
}
