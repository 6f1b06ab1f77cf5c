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

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use futures_util::StreamExt;
use futures_util::stream;

use bytes::Bytes;

use crate::authorizer;
use crate::channel::{self, ChannelError};
use crate::config::Settings;
use crate::continuation::{self, Continuation, HandOn, MAX_HOPS, PAYLOAD_LIMIT};
use crate::control::{self, Control, ControlError, Frame};
use crate::deadline::{API_GATEWAY_TIMEOUT, Budget};
use crate::fanout::{Plan, Report, fanout};
use crate::gateway::{Gateway, Poster, management_endpoint};
use crate::message::{self, Refusal};
use crate::publish;
use crate::rate;
use crate::store::{Connection, ConnectionStore, Room, Row, StoreError, rooms_of};

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

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one event with API Gateway's deadline. Never fails: every problem becomes
    /// a status code, an error frame for the sender, or a log line.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        self.invoke(event, Instant::now() + API_GATEWAY_TIMEOUT)
            .await
            .response
    }

    /// Handles any event Lambda delivers: an API Gateway WebSocket event, a
    /// continuation ([`Continuation::from_event`]), or a function URL publish
    /// ([`crate::publish`]). Returns the response JSON.
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
        if authorizer::is_authorizer_event(&event) {
            return (self.authorize(&event).await, Report::default());
        }
        if let Some((method, query, body, encoded)) = publish::from_function_url(&event) {
            let (status, body, report) =
                match publish::read(&method, &query, body.as_deref(), encoded) {
                    Ok(request) => self.publish(request, deadline).await,
                    Err(refused) => {
                        log_publish_refused(&refused);
                        (refused.status, refused.body(), Report::default())
                    }
                };
            return (publish::function_url_response(status, &body), report);
        }
        let (response, report) =
            match serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(event) {
                Ok(event) => {
                    let invocation = self.invoke(event, deadline).await;
                    (invocation.response, invocation.report)
                }
                Err(err) => {
                    tracing::error!(%err, "not an API Gateway WebSocket event");
                    (response(400, None), Report::default())
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
                response: response(400, None),
                report: Report::default(),
            };
        };
        let (response, report) = match route {
            Route::Connect => (self.connect(connection_id, &event).await, Report::default()),
            Route::Disconnect => (
                response(self.disconnect(connection_id).await, None),
                Report::default(),
            ),
            Route::Default => {
                let budget = Budget::new(started, deadline, true);
                (
                    response(200, None),
                    self.message(connection_id, &event, budget).await,
                )
            }
        };
        log(route.key(), response.status_code, &report, 0, started);
        Invocation { response, report }
    }

    /// Publishes `request` as if from no client: every member of its room gets it with
    /// `_me` false. Returns the HTTP status and JSON body of the answer, and the report.
    pub async fn publish(
        &self,
        request: publish::Publish,
        deadline: Instant,
    ) -> (u16, serde_json::Value, Report) {
        let started = Instant::now();
        let Some(endpoint) = self.settings.management_endpoint.clone() else {
            tracing::error!("publish refused: MB_MANAGEMENT_ENDPOINT is unset");
            let body = serde_json::json!({
                "error": "not_configured",
                "reason": "the function has no MB_MANAGEMENT_ENDPOINT, so it cannot reach the WebSocket API; deploy with mb deploy"
            });
            return (500, body, Report::default());
        };
        let now = now_ms();
        let rooms = vec![request.room];
        let shaped = shape_rooms(&request.text, now, &rooms);
        if let Some(refusal) = too_large(&shaped) {
            let refused = publish::too_large(&refusal);
            log_publish_refused(&refused);
            return (refused.status, refused.body(), Report::default());
        }
        let poster = self.gateway.poster(&endpoint);
        let job = Job {
            endpoint: &endpoint,
            sender: "",
            text: &request.text,
            now,
            rooms: &rooms,
            cursor: (0, None),
            hop: 0,
        };
        let budget = Budget::new(started, deadline, false);
        let report = match self.recipients(&rooms, None).await {
            Ok(queue) => {
                self.deliver(&poster, &job, &shaped, queue, Vec::new(), budget)
                    .await
            }
            Err(err) => {
                tracing::error!(%err, "could not read the room; nothing published");
                let body = serde_json::json!({
                    "error": Refusal::StorageUnavailable.code(),
                    "reason": Refusal::StorageUnavailable.reason(),
                });
                log("publish", 503, &Report::default(), 0, started);
                return (503, body, Report::default());
            }
        };
        log("publish", 200, &report, 0, started);
        (200, publish::answer(&report), report)
    }

    /// The `$connect` authorizer's answer to `event` ([`authorizer::answer`]), the keys
    /// loaded first if they are due ([`crate::keys`]): one log line with the verdict and,
    /// for a denial, why; never the token.
    pub async fn authorize(&self, event: &serde_json::Value) -> serde_json::Value {
        let started = Instant::now();
        let verdict = match authorizer::token_to_check(event, self.settings.auth.as_ref()) {
            Ok((token, auth)) => auth.0.verify(token).await,
            Err(denied) => Err(denied),
        };
        let answer = authorizer::answer(event, &verdict);
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match verdict {
            Ok(_) => tracing::info!(
                route = "authorizer",
                status = "allow",
                duration_ms,
                "invocation"
            ),
            Err(denied) => tracing::warn!(
                route = "authorizer",
                status = "deny",
                reason = %denied,
                duration_ms,
                "invocation"
            ),
        }
        answer
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
        let own = self.settings.management_endpoint.as_deref();
        if let Err(err) = continuation::check_endpoint(own, &c.endpoint) {
            tracing::error!(%err, hop = c.hop, "continuation refused");
            return Report::default();
        }
        let text = match c.decode_text() {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(%err, "continuation dropped");
                return Report::default();
            }
        };
        // No rooms: a continuation from before channels, in the one room there was.
        let rooms: Vec<Room> = if c.rooms.is_empty() {
            vec![Room::Default]
        } else {
            c.rooms
                .iter()
                .filter_map(|key| Room::from_key(key))
                .collect()
        };
        if rooms.len() != c.rooms.len().max(1) || c.room >= rooms.len() {
            tracing::error!("continuation dropped: it names a room that cannot be");
            return Report::default();
        }
        let shaped = shape_rooms(&text, c.now, &rooms);
        let poster = self.gateway.poster(&c.endpoint);
        let cursor = (c.room, c.after.as_deref());
        let read = if c.scan {
            self.recipients(&rooms, Some(cursor)).await
        } else {
            Ok(Vec::new())
        };
        let queue: Vec<Row> = match read {
            Ok(rows) => rows.into_iter().filter(|r| r.id != c.sender).collect(),
            Err(err) => {
                tracing::error!(%err, "could not read the rooms; the rest of the broadcast is lost");
                return Report::default();
            }
        };
        let job = Job {
            endpoint: &c.endpoint,
            sender: &c.sender,
            text: &text,
            now: c.now,
            rooms: &rooms,
            cursor,
            hop: c.hop,
        };
        self.deliver(&poster, &job, &shaped, queue, c.retry.clone(), budget)
            .await
    }

    /// The members of `rooms`, each once, through the first room that has it, in (room,
    /// key) order; with a cursor, only those after it.
    async fn recipients(
        &self,
        rooms: &[Room],
        cursor: Option<(usize, Option<&str>)>,
    ) -> Result<Vec<Row>, StoreError> {
        let now_s = now_ms() / 1000;
        if let [room] = rooms {
            // One room needs no deduplication: read only what is after the cursor.
            let after = cursor.and_then(|(_, after)| after);
            return self.store.members(room, now_s, after).await;
        }
        let mut members = Vec::with_capacity(rooms.len());
        for room in rooms {
            members.push(self.store.members(room, now_s, None).await?);
        }
        Ok(channel::recipients(&members)
            .into_iter()
            .filter(|(row, room)| match cursor {
                None => true,
                Some((at, after)) => {
                    *room > at || (*room == at && after.is_none_or(|key| row.id.as_str() > key))
                }
            })
            .map(|(row, room)| Row { room, ..row })
            .collect())
    }

    async fn connect(
        &self,
        connection_id: &str,
        event: &ApiGatewayWebsocketProxyRequest,
    ) -> ApiGatewayProxyResponse {
        let query = &event.multi_value_query_string_parameters;
        let single = &event.query_string_parameters;
        let pairs: Vec<(&str, &str)> = if query.is_empty() {
            single.iter().collect()
        } else {
            query
                .iter()
                .flat_map(|(key, _)| {
                    query
                        .all(key)
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |value| (key, value))
                })
                .collect()
        };
        // API Gateway refuses the upgrade with the status of a refusal.
        let refuse = |status: i64, code: &str, reason: String| {
            tracing::warn!(%reason, code, "connection refused");
            let body = serde_json::json!({"error": code, "reason": reason});
            response(status, Some(body.to_string()))
        };
        let headers = event
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let origin = crate::origin::of(headers);
        if !crate::origin::allowed(origin, &self.settings.allowed_origins) {
            return refuse(
                403,
                "forbidden_origin",
                "the page's origin is not in this deployment's allowed origins".into(),
            );
        }
        let identity = authorizer::identity_of(&event.request_context.authorizer.fields);
        if self.settings.auth.is_some() && identity.is_none() {
            // Only the authorizer lets a connection in when tokens are required.
            return refuse(403, "unauthorized", "a valid token is required".into());
        }
        let (sub, allowed) = identity.unwrap_or_default();
        let mut channels = match channel::from_query(pairs) {
            Ok(channels) => channels,
            Err(err) => return refuse(400, "bad_channel", err.to_string()),
        };
        if let Some(allowed) = &allowed {
            if channels.is_empty() {
                // A token limited to channels joins them all when it names none.
                channels = allowed.clone();
                if channels.is_empty() {
                    return refuse(
                        403,
                        "forbidden_channel",
                        "the token allows no channel".into(),
                    );
                }
            } else if let Some(not) = channels.iter().find(|c| !allowed.contains(*c)) {
                return refuse(
                    403,
                    "forbidden_channel",
                    format!("the token does not allow channel {:?}", not.as_str()),
                );
            }
        }
        let connected_at_ms = or_now(event.request_context.connected_at);
        let connection = Connection::new(connection_id, connected_at_ms)
            .in_rooms(rooms_of(&channels))
            .with_identity(sub, allowed);
        match self.store.put(&connection).await {
            Ok(()) => response(200, None),
            Err(err) => {
                // Refusing the connection beats accepting a client that would never
                // receive a message.
                tracing::error!(%err, "could not store the new connection; refusing it");
                response(500, None)
            }
        }
    }

    async fn disconnect(&self, connection_id: &str) -> i64 {
        if let Err(err) = self.store.delete(connection_id).await {
            // The rows expire by TTL, and the next broadcast's 410 removes them anyway.
            tracing::warn!(%err, "could not delete the closed connection");
        }
        200
    }

    /// A frame from a client: a control message, or a message for its rooms.
    async fn message(
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
        let frame = match control::parse(&text) {
            Ok(frame) => frame,
            Err(err) => return reply(&poster, sender, err.frame(now), Some(err.code())).await,
        };
        let limit = self.settings.max_messages_per_second;
        if limit > 0 {
            match self.store.count_message(sender, rate::window(now)).await {
                Ok(count) if !rate::allowed(count, limit) => {
                    return reply(
                        &poster,
                        sender,
                        rate::frame(limit, now),
                        Some("rate_limited"),
                    )
                    .await;
                }
                Ok(_) => {}
                // Counting failed: let the message through rather than drop it.
                Err(err) => tracing::warn!(%err, "could not count the message"),
            }
        }
        let connection = match self.store.get(sender).await {
            Ok(Some(connection)) => connection,
            Ok(None) => self.restore(sender, or_now(context.connected_at)).await,
            Err(err) => {
                tracing::error!(%err, "could not read the sender's rooms; message not broadcast");
                return refuse(&poster, sender, Refusal::StorageUnavailable, now).await;
            }
        };
        let (text, rooms): (Cow<'_, str>, Vec<Room>) = match frame {
            Frame::Message => (text, connection.rooms.iter().cloned().collect()),
            Frame::Control(Control::Publish { channel, text }) => {
                let room = Room::Channel(channel);
                if !connection.rooms.contains(&room) {
                    let err = ControlError::NotMember(room.key().to_owned());
                    return reply(&poster, sender, err.frame(now), Some(err.code())).await;
                }
                (Cow::Owned(text), vec![room])
            }
            Frame::Control(control) => {
                return self.control(&poster, &connection, control, now).await;
            }
        };
        if rooms.is_empty() {
            // In no room (it left them all): only its own copy.
            let shaped = message::shape(&text, now);
            if let Err(refusal) = message::check_size(&shaped) {
                return refuse(&poster, sender, refusal, now).await;
            }
            return reply(&poster, sender, shaped.for_sender, None).await;
        }
        let shaped = shape_rooms(&text, now, &rooms);
        if let Some(refusal) = too_large(&shaped) {
            return refuse(&poster, sender, refusal, now).await;
        }
        let mut rows = match self.recipients(&rooms, None).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(%err, "could not read the rooms; message not broadcast");
                return refuse(&poster, sender, Refusal::StorageUnavailable, now).await;
            }
        };
        // The sender's copy goes first (through its first room); continuations skip it.
        let sender_row = match rows.iter().position(|r| r.id == sender) {
            Some(at) => Row {
                room: 0,
                ..rows.remove(at)
            },
            None => connection.row(),
        };
        let mut queue = Vec::with_capacity(rows.len() + 1);
        queue.push(sender_row);
        queue.append(&mut rows);
        let job = Job {
            endpoint: &endpoint,
            sender,
            text: &text,
            now,
            rooms: &rooms,
            cursor: (0, None),
            hop: 0,
        };
        self.deliver(&poster, &job, &shaped, queue, Vec::new(), budget)
            .await
    }

    /// Carries out subscribe, unsubscribe and ping; the sender gets the reply.
    async fn control<P: Poster>(
        &self,
        poster: &P,
        connection: &Connection,
        control: Control,
        now: i64,
    ) -> Report {
        let sender = connection.id.as_str();
        let done = match &control {
            Control::Subscribe(channel) => {
                let room = Room::Channel(channel.clone());
                if connection.rooms.contains(&room) {
                    Ok(())
                } else if !connection.may_join(channel) {
                    let err = ControlError::Forbidden(channel.as_str().to_owned());
                    return reply(poster, sender, err.frame(now), Some(err.code())).await;
                } else if connection.channel_count() >= channel::MAX_PER_CONNECTION {
                    let err = ControlError::BadChannel(ChannelError::TooMany(
                        connection.channel_count() + 1,
                    ));
                    return reply(poster, sender, err.frame(now), Some(err.code())).await;
                } else {
                    self.store.join(connection, &room).await
                }
            }
            Control::Unsubscribe(channel) => {
                self.store
                    .leave(sender, &Room::Channel(channel.clone()))
                    .await
            }
            Control::Ping(_) | Control::Publish { .. } => Ok(()),
        };
        if let Err(err) = done {
            tracing::error!(%err, "could not change the connection's channels");
            return refuse(poster, sender, Refusal::StorageUnavailable, now).await;
        }
        match control::reply(&control) {
            Some(frame) => reply(poster, sender, frame, None).await,
            None => Report::default(),
        }
    }

    /// Writes the record of a sender that has none: it just sent, so it is connected.
    /// Its channels are not known any more: it is stored in the default room.
    ///
    /// With tokens required, what its token allowed is not known either: it is stored in
    /// no room and allowed no channel, so a lost record never widens what a connection may
    /// hear (it gets its own copies until it reconnects).
    async fn restore(&self, sender: &str, connected_at_ms: i64) -> Connection {
        let mut connection = Connection::new(sender, connected_at_ms);
        if self.settings.auth.is_some() {
            connection = connection
                .in_rooms(Default::default())
                .with_identity(None, Some(Default::default()));
        }
        match self.store.put(&connection).await {
            Ok(()) => tracing::info!("the sender had no row; stored it again"),
            Err(err) => tracing::warn!(%err, "could not store the sender's missing row"),
        }
        connection
    }

    /// Fans out to `retry` and `queue`, hands on what the deadline leaves, deletes the
    /// gone rows.
    async fn deliver<P: Poster>(
        &self,
        poster: &P,
        job: &Job<'_>,
        shaped: &[message::Shaped],
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
            // Resume after the last (room, key) started (the sender is not one).
            let last = queue[..report.started]
                .iter()
                .rev()
                .find(|r| r.id != job.sender);
            self.hand_on(job, last, unstarted, &mut report).await;
        }
        self.forget(&report.gone, job.rooms).await;
        report
    }

    async fn hand_on(
        &self,
        job: &Job<'_>,
        last: Option<&Row>,
        unstarted: usize,
        report: &mut Report,
    ) {
        let why = match &self.hand_on {
            _ if job.hop >= MAX_HOPS => {
                format!("the chain reached its limit of {MAX_HOPS} hand-ons")
            }
            None => "this handler cannot hand on".to_owned(),
            Some(hand_on) => {
                let (room, after) = match last {
                    Some(row) => (row.room, Some(row.id.clone())),
                    None => (job.cursor.0, job.cursor.1.map(str::to_owned)),
                };
                let continuation = Continuation {
                    endpoint: job.endpoint.to_owned(),
                    sender: job.sender.to_owned(),
                    text: Continuation::encode_text(job.text),
                    now: job.now,
                    rooms: job.rooms.iter().map(|r| r.key().to_owned()).collect(),
                    room,
                    after,
                    retry: std::mem::take(&mut report.pending),
                    hop: job.hop + 1,
                    scan: true,
                };
                // Each part within the async payload limit; what a part that cannot be
                // handed on carried stays pending and is counted below.
                let mut first_failed = None;
                for (index, part) in continuation.split(PAYLOAD_LIMIT).into_iter().enumerate() {
                    let carried = part.retry.len() + if index == 0 { unstarted } else { 0 };
                    match hand_on.hand_on(part.to_payload()).await {
                        Ok(()) => report.continued += carried,
                        Err(err) if index == 0 => {
                            report.pending.extend(part.retry);
                            first_failed = Some(err);
                        }
                        Err(err) => {
                            tracing::error!(
                                not_reached = part.retry.len(),
                                reason = %err,
                                "a continuation that only retries could not be handed on"
                            );
                            report.throttled += part.retry.len();
                        }
                    }
                }
                match first_failed {
                    None => return,
                    Some(err) => err,
                }
            }
        };
        let left = unstarted + report.pending.len();
        tracing::error!(
            not_reached = left,
            reason = %why,
            "the deadline came before every recipient was reached"
        );
        report.throttled += report.pending.len();
        report.failed += unstarted;
        report.pending.clear();
    }

    /// Deletes the connections that answered 410 Gone, each only if it is still the one
    /// the broadcast read, as many at once as posts.
    async fn forget(&self, gone: &[Row], rooms: &[Room]) {
        // Owned rows: futures borrowing the slice's items trip rustc's higher-ranked
        // `Send` inference when this handler runs in a spawned task.
        let mut deletes = stream::iter(gone.iter().cloned())
            .map(|row| {
                let room = rooms.get(row.room).cloned().unwrap_or(Room::Default);
                async move { self.store.delete_seen(&row, &room).await }
            })
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
    /// The sending connection ("" for a publish: nobody's copy says `_me`).
    sender: &'a str,
    text: &'a str,
    now: i64,
    /// The rooms it goes to, in order.
    rooms: &'a [Room],
    /// Where this invocation's read started: (room index, after key).
    cursor: (usize, Option<&'a str>),
    hop: u32,
}

/// The copies of a message for each room it goes through (pure).
fn shape_rooms(text: &str, now: i64, rooms: &[Room]) -> Vec<message::Shaped> {
    rooms
        .iter()
        .map(|room| message::shape_in(text, now, room.channel()))
        .collect()
}

/// The refusal if any room's copy is too large.
fn too_large(shaped: &[message::Shaped]) -> Option<Refusal> {
    shaped.iter().find_map(|s| message::check_size(s).err())
}

fn log_publish_refused(refused: &publish::Refused) {
    tracing::warn!(
        status = refused.status,
        reason = refused.code,
        "publish refused"
    );
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
    reply(poster, sender, refusal.frame(now), Some(refusal.code())).await
}

/// Sends the sender alone a frame: a reply, its own copy, or an error (`refused`, its
/// code, which is logged).
async fn reply<P: Poster>(
    poster: &P,
    sender: &str,
    frame: Bytes,
    refused: Option<&'static str>,
) -> Report {
    if let Some(reason) = refused {
        tracing::warn!(reason, "message refused");
    }
    if let Err(failure) = poster.post(sender, frame).await {
        tracing::warn!(%failure, "could not send the sender its reply");
    }
    Report::default()
}

fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(aws_lambda_events::encodings::Body::Text);
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

    fn unavailable(operation: &'static str) -> StoreError {
        StoreError {
            operation,
            detail: "unavailable".into(),
        }
    }

    impl ConnectionStore for Broken {
        async fn put(&self, _: &Connection) -> Result<(), StoreError> {
            Err(unavailable("PutItem"))
        }
        async fn get(&self, _: &str) -> Result<Option<Connection>, StoreError> {
            Err(unavailable("GetItem"))
        }
        async fn join(&self, _: &Connection, _: &Room) -> Result<(), StoreError> {
            Err(unavailable("PutItem"))
        }
        async fn leave(&self, _: &str, _: &Room) -> Result<(), StoreError> {
            Err(unavailable("DeleteItem"))
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Err(unavailable("DeleteItem"))
        }
        async fn delete_seen(&self, _: &Row, _: &Room) -> Result<bool, StoreError> {
            Err(unavailable("DeleteItem"))
        }
        async fn members(&self, _: &Room, _: i64, _: Option<&str>) -> Result<Vec<Row>, StoreError> {
            Err(unavailable("Query"))
        }
        async fn scan(&self) -> Result<Vec<String>, StoreError> {
            Err(unavailable("Scan"))
        }
        async fn count_message(&self, _: &str, _: i64) -> Result<u32, StoreError> {
            Err(unavailable("UpdateItem"))
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

    /// A1, A2 in `a`; B1 in `b`; AB in both; D in the default room.
    async fn rooms() -> (Handler<MemoryStore, Recorder>, Recorder) {
        let (h, rec) = handler(&[]);
        for (id, query) in [
            ("a1", vec![("channel", "a")]),
            ("a2", vec![("channels", "a")]),
            ("b1", vec![("channel", "b")]),
            ("ab", vec![("channel", "b"), ("channel", "a")]),
            ("d", vec![]),
        ] {
            assert_eq!(h.handle(connect_with(id, &query)).await.status_code, 200);
        }
        (h, rec)
    }

    #[tokio::test]
    async fn a_channel_message_reaches_its_members_once_with_its_channel() {
        let (h, rec) = rooms().await;
        h.handle(event("$default", "a1", Some("hi"))).await;
        assert_eq!(rec.ids(), ["a1", "a2", "ab"]);
        let bodies = rec.bodies();
        assert_eq!(
            bodies["a1"],
            serde_json::json!({"data": "hi", "_now": *CONNECTED_AT + 500, "_channel": "a", "_me": true})
        );
        assert_eq!(bodies["a2"]["_channel"], "a");
        assert_eq!(bodies["a2"]["_me"], false);

        // From a member of a and b: each member once, through the first shared channel.
        rec.clear();
        h.handle(event("$default", "ab", Some(r#"{"k":1}"#))).await;
        assert_eq!(rec.ids(), ["a1", "a2", "ab", "b1"]);
        assert_eq!(rec.posts.lock().unwrap().len(), 4);
        let bodies = rec.bodies();
        assert_eq!(bodies["ab"]["_channel"], "a");
        assert_eq!(bodies["b1"]["_channel"], "b");
        assert_eq!(bodies["a1"]["k"], 1);

        // The default room is as before: no _channel.
        rec.clear();
        h.handle(event("$default", "d", Some("x"))).await;
        assert_eq!(rec.ids(), ["d"]);
        assert_eq!(
            rec.bodies()["d"],
            serde_json::json!({"data": "x", "_now": *CONNECTED_AT + 500, "_me": true})
        );
    }

    #[tokio::test]
    async fn subscribe_unsubscribe_and_ping() {
        let (h, rec) = rooms().await;
        h.handle(event(
            "$default",
            "b1",
            Some(r#"{"action":"subscribe","channel":"a"}"#),
        ))
        .await;
        assert_eq!(rec.ids(), ["b1"]);
        assert_eq!(
            rec.bodies()["b1"],
            serde_json::json!({"action": "subscribed", "channel": "a"})
        );
        rec.clear();
        h.handle(event("$default", "a1", Some("x"))).await;
        assert_eq!(rec.ids(), ["a1", "a2", "ab", "b1"]);

        rec.clear();
        h.handle(event(
            "$default",
            "b1",
            Some(r#"{"action":"unsubscribe","channel":"a"}"#),
        ))
        .await;
        assert_eq!(
            rec.bodies()["b1"],
            serde_json::json!({"action": "unsubscribed", "channel": "a"})
        );
        rec.clear();
        h.handle(event("$default", "a1", Some("x"))).await;
        assert_eq!(rec.ids(), ["a1", "a2", "ab"]);

        for (ping, pong) in [
            (
                r#"{"action":"ping"}"#,
                serde_json::json!({"action": "pong"}),
            ),
            (
                r#"{"action":"ping","data":"hello"}"#,
                serde_json::json!({"action": "pong", "data": "hello"}),
            ),
        ] {
            rec.clear();
            h.handle(event("$default", "d", Some(ping))).await;
            assert_eq!(rec.ids(), ["d"]);
            assert_eq!(rec.bodies()["d"], pong);
        }
    }

    #[tokio::test]
    async fn publish_control_messages_need_membership() {
        let (h, rec) = rooms().await;
        h.handle(event(
            "$default",
            "d",
            Some(r#"{"action":"publish","channel":"a","data":"psst"}"#),
        ))
        .await;
        assert_eq!(rec.ids(), ["d"]);
        assert_eq!(rec.bodies()["d"]["error"], "not_a_member");

        rec.clear();
        h.handle(event(
            "$default",
            "ab",
            Some(r#"{"action":"publish","channel":"b","data":{"n":2}}"#),
        ))
        .await;
        assert_eq!(rec.ids(), ["ab", "b1"]);
        assert_eq!(rec.bodies()["b1"]["n"], 2);
        assert_eq!(rec.bodies()["b1"]["_channel"], "b");
        assert_eq!(rec.bodies()["ab"]["_me"], true);
    }

    #[tokio::test]
    async fn a_continuation_resumes_after_its_room_and_key_and_never_repeats() {
        let (h, _) = rooms().await;
        let rooms = [Room::from_key("a").unwrap(), Room::from_key("b").unwrap()];
        let read = |cursor| {
            let h = &h;
            let rooms = &rooms;
            async move {
                h.recipients(rooms, cursor)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.id, r.room))
                    .collect::<Vec<_>>()
            }
        };
        let all = |pairs: &[(&str, usize)]| {
            pairs
                .iter()
                .map(|(id, room)| (id.to_string(), *room))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            read(None).await,
            all(&[("a1", 0), ("a2", 0), ("ab", 0), ("b1", 1)])
        );
        assert_eq!(
            read(Some((0, Some("a2")))).await,
            all(&[("ab", 0), ("b1", 1)])
        );
        // `ab` is also in b, but it was reached through a: not again.
        assert_eq!(read(Some((1, None))).await, all(&[("b1", 1)]));
        assert_eq!(read(Some((1, Some("b1")))).await, all(&[]));
    }

    #[tokio::test]
    async fn a_bad_channel_refuses_the_connection_with_its_reason() {
        let (h, _) = handler(&[]);
        let refused = h.handle(connect_with("x", &[("channel", "a b")])).await;
        assert_eq!(refused.status_code, 400);
        let Some(aws_lambda_events::encodings::Body::Text(body)) = refused.body else {
            panic!("no reason");
        };
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "bad_channel");
        assert!(body["reason"].as_str().unwrap().contains("may use only"));
        assert!(h.store().is_empty());
    }

    #[tokio::test]
    async fn disconnect_leaves_every_channel() {
        let (h, _) = rooms().await;
        h.handle(event("$disconnect", "ab", None)).await;
        for room in ["a", "b"] {
            let room = Room::from_key(room).unwrap();
            let members = h.store().members(&room, 0, None).await.unwrap();
            assert!(members.iter().all(|r| r.id != "ab"), "{members:?}");
        }
    }

    #[tokio::test]
    async fn a_function_url_publish_reaches_the_channel_as_from_nobody() {
        let recorder = Recorder::default();
        let settings = Settings {
            concurrency: 2,
            management_endpoint: Some("http://127.0.0.1:1".into()),
            ..Settings::default()
        };
        let h = Handler::new(MemoryStore::new(), recorder.clone(), settings);
        for (id, query) in [("a1", vec![("channel", "a")]), ("d", vec![])] {
            h.handle(connect_with(id, &query)).await;
        }
        let url_event = |query: &str, body: &str| {
            serde_json::json!({
                "version": "2.0", "rawPath": "/", "rawQueryString": query,
                "requestContext": {"http": {"method": "POST", "path": "/"}},
                "body": body, "isBase64Encoded": false,
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let answer = h
            .handle_json(url_event("channel=a", "shipped"), deadline)
            .await;
        assert_eq!(answer["statusCode"], 200);
        let counts: serde_json::Value =
            serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(counts["recipients"], 1);
        assert_eq!(counts["delivered"], 1);
        assert_eq!(recorder.ids(), ["a1"]);
        assert_eq!(recorder.bodies()["a1"]["_me"], false);
        assert_eq!(recorder.bodies()["a1"]["_channel"], "a");

        recorder.clear();
        let answer = h.handle_json(url_event("", "all"), deadline).await;
        assert_eq!(answer["statusCode"], 200);
        assert_eq!(recorder.ids(), ["d"]);
        let raw = String::from_utf8(recorder.posts.lock().unwrap()[0].2.to_vec()).unwrap();
        assert!(raw.starts_with(r#"{"data":"all","_now":"#), "{raw}");
        assert!(raw.ends_with(r#","_me":false}"#), "{raw}");

        let answer = h.handle_json(url_event("channel=%25", "x"), deadline).await;
        assert_eq!(answer["statusCode"], 400);
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
            Some(aws_lambda_events::encodings::Body::Text(text)) => {
                serde_json::from_str(text).unwrap()
            }
            other => panic!("no JSON body: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_handshake_from_an_unlisted_origin_is_refused() {
        let (h, _) = with_settings(Settings {
            allowed_origins: vec!["https://app.example".into()],
            ..Settings::default()
        });
        let evil = h
            .handle(connect_as(
                "e",
                &[],
                serde_json::json!({}),
                &[("Origin", "https://evil.example")],
            ))
            .await;
        assert_eq!(evil.status_code, 403);
        assert_eq!(body_of(&evil)["error"], "forbidden_origin");
        let good = h
            .handle(connect_as(
                "g",
                &[],
                serde_json::json!({}),
                &[("origin", "https://app.example")],
            ))
            .await;
        assert_eq!(good.status_code, 200);
        let none = h
            .handle(connect_as("n", &[], serde_json::json!({}), &[]))
            .await;
        assert_eq!(none.status_code, 200, "no Origin: not a browser");
        assert_eq!(h.store().scan().await.unwrap(), ["g", "n"]);
    }

    #[tokio::test]
    async fn a_token_limits_the_channels_and_its_subject_is_stored() {
        let secret = b"0123456789abcdef0123456789abcdef".to_vec();
        let verifier = crate::auth::Verifier::secret(secret).unwrap();
        let (h, rec) = with_settings(Settings {
            auth: Some(crate::config::Auth::fixed(verifier)),
            ..Settings::default()
        });
        let limited = serde_json::json!({"sub": "u1", "channels": "a", "limited": "true", "exp": "9999999999", "principalId": "u1"});
        // Tokens required: a $connect no authorizer let in is refused.
        assert_eq!(h.handle(connect_with("x", &[])).await.status_code, 403);
        let refused = h
            .handle(connect_as("b", &[("channel", "b")], limited.clone(), &[]))
            .await;
        assert_eq!(refused.status_code, 403);
        assert_eq!(body_of(&refused)["error"], "forbidden_channel");
        // Naming no channel joins the token's channels.
        assert_eq!(
            h.handle(connect_as("u", &[], limited.clone(), &[]))
                .await
                .status_code,
            200
        );
        let stored = h.store().get("u").unwrap();
        assert_eq!(stored.sub.as_deref(), Some("u1"));
        assert_eq!(stored.rooms, [Room::from_key("a").unwrap()].into());

        h.handle(event(
            "$default",
            "u",
            Some(r#"{"action":"subscribe","channel":"b"}"#),
        ))
        .await;
        assert_eq!(rec.bodies()["u"]["error"], "forbidden_channel");
        rec.clear();
        h.handle(event(
            "$default",
            "u",
            Some(r#"{"action":"subscribe","channel":"a"}"#),
        ))
        .await;
        assert_eq!(rec.bodies()["u"]["action"], "subscribed");
    }

    #[tokio::test]
    async fn a_lost_record_never_widens_what_a_token_allowed() {
        let verifier =
            crate::auth::Verifier::secret(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        let (h, rec) = with_settings(Settings {
            auth: Some(crate::config::Auth::fixed(verifier)),
            ..Settings::default()
        });
        let open = serde_json::json!({"exp": "9999999999", "principalId": "anonymous"});
        h.handle(connect_as("d", &[], open, &[])).await;
        // "ghost" has no record (its token limited it to some channel once).
        h.handle(event("$default", "ghost", Some("x"))).await;
        assert_eq!(rec.ids(), ["ghost"], "not the default room's members");
        rec.clear();
        h.handle(event(
            "$default",
            "ghost",
            Some(r#"{"action":"subscribe","channel":"a"}"#),
        ))
        .await;
        assert_eq!(rec.bodies()["ghost"]["error"], "forbidden_channel");
    }

    #[tokio::test]
    async fn messages_over_the_limit_reach_nobody_and_the_sender_is_told() {
        let (h, rec) = with_settings(Settings {
            max_messages_per_second: 3,
            concurrency: 2,
            ..Settings::default()
        });
        for id in ["a", "b"] {
            h.handle(event("$connect", id, None)).await;
        }
        for _ in 0..5 {
            h.handle(event("$default", "a", Some("x"))).await;
        }
        let posts = rec.posts.lock().unwrap();
        let to_b = posts.iter().filter(|(_, id, _)| id == "b").count();
        let refusals = posts
            .iter()
            .filter(|(_, id, data)| {
                id == "a" && String::from_utf8_lossy(data).contains(r#""error":"rate_limited""#)
            })
            .count();
        // All five within one second (or two, if the clock turned: then at most 6 pass).
        assert!((3..=5).contains(&to_b), "{to_b} reached b");
        assert_eq!(to_b + refusals, 5);
    }

    #[tokio::test]
    async fn events_without_a_connection_id_are_bad_requests() {
        let (h, _) = handler(&[]);
        let mut ev = event("$default", "a", Some("x"));
        ev.request_context.connection_id = None;
        assert_eq!(h.handle(ev).await.status_code, 400);
    }
}
