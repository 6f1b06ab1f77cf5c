//! The function's [`Handler`]: one [`Event`] in ([`crate::event`], the one door), an answer
//! out, never a failure (every problem becomes a status, an error frame for the sender,
//! or a log line). One file per way in:
//!
//! | way in | file |
//! |---|---|
//! | `$connect` | `connect.rs` |
//! | `$disconnect` | `disconnect.rs` |
//! | a message (`$default`) | `message.rs` |
//! | a control action (`subscribe`, `unsubscribe`, `ping`) | `control.rs` |
//! | the `resume` action: a room's kept messages after a position | `resume.rs` |
//! | the publish URL | `publish.rs` |
//! | the `$connect` authorizer | `authorize.rs` |
//! | a continuation | `continuation.rs` |
//! | bus events: a batch of the events queue (SQS, fed by SNS and EventBridge) | `bus.rs` |
//!
//! `broadcast.rs` is the delivery they share (members, fan-out, hand-on, deleting the
//! gone); `reply.rs` the sender's reply, the HTTP response and the log line.

mod authorize;
mod broadcast;
mod bus;
mod connect;
mod continuation;
mod control;
mod disconnect;
mod message;
mod publish;
mod reply;
mod resume;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};

use crate::config::Settings;
use crate::delivery::continuation::Invoker;
use crate::delivery::deadline::{API_GATEWAY_TIMEOUT, Budget};
use crate::delivery::fanout::Report;
use crate::event::{Event, Route};
use crate::gateway::Gateway;
use crate::store::ConnectionStore;
pub use crate::wire::bus::{EventResult, batch_response};
use reply::{log, response};

/// What one invocation answered, and did.
#[derive(Debug)]
pub struct Answer {
    /// The JSON Lambda returns: the WebSocket route's response, the authorizer's policy,
    /// the function URL's response, or `{}` for a continuation.
    pub json: serde_json::Value,
    /// The broadcast's totals (all zero where nothing was broadcast).
    pub report: Report,
    /// Each bus event's end (a batch of the events queue; empty otherwise).
    pub events: Vec<EventResult>,
}

impl Answer {
    fn new(json: serde_json::Value, report: Report) -> Self {
        Self {
            json,
            report,
            events: Vec::new(),
        }
    }
}

/// What one WebSocket event did ([`Handler::websocket`]).
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
    invoker: Option<Arc<dyn Invoker>>,
}

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    pub fn new(store: S, gateway: G, settings: Settings) -> Self {
        Self {
            store,
            gateway,
            settings,
            invoker: None,
        }
    }

    /// Hands what a deadline leaves of a broadcast to a new invocation through `invoker`
    /// (without one, the rest is logged as failed).
    pub fn with_invoker(mut self, invoker: Arc<dyn Invoker>) -> Self {
        self.invoker = Some(invoker);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Serves one event before `deadline`: the one dispatch, for `bootstrap` and `mb dev`.
    pub async fn dispatch(&self, event: Event, deadline: Instant) -> Answer {
        let nothing = Report::default();
        match event {
            Event::WebSocket { route, request } => {
                let invocation = self.route(route, &request, deadline).await;
                Answer::new(
                    serde_json::to_value(invocation.response).unwrap_or_default(),
                    invocation.report,
                )
            }
            Event::Authorizer(request) => Answer::new(self.authorize(&request).await, nothing),
            Event::Publish(request) => {
                let (status, body, report) = self.publish_url(&request, deadline).await;
                Answer::new(
                    crate::wire::publish::function_url_response(status, &body),
                    report,
                )
            }
            Event::Continuation(continuation) => Answer::new(
                serde_json::json!({}),
                self.continue_broadcast(*continuation, deadline).await,
            ),
            Event::Queue(batch) => {
                let started = Instant::now();
                let (events, report) = self.bus(&batch.records, deadline).await;
                log("queue", 200, &report, 0, started);
                Answer {
                    json: serde_json::to_value(batch_response(&events)).unwrap_or_default(),
                    report,
                    events,
                }
            }
            Event::BadContinuation(err) => {
                tracing::error!(%err, "continuation dropped");
                Answer::new(serde_json::json!({}), nothing)
            }
            Event::Unknown(err) => {
                tracing::error!(%err, "event not recognised");
                Answer::new(
                    serde_json::to_value(response(400, None)).unwrap_or_default(),
                    nothing,
                )
            }
        }
    }

    /// A WebSocket event through [`Handler::dispatch`]'s route, typed (tests, benchmarks,
    /// the local gateway's callers that hold the request already).
    pub async fn websocket(
        &self,
        request: ApiGatewayWebsocketProxyRequest,
        deadline: Instant,
    ) -> Invocation {
        let route = Route::of(request.request_context.route_key.as_deref());
        self.route(route, &request, deadline).await
    }

    /// [`Handler::websocket`] with API Gateway's deadline, the response alone.
    pub async fn handle(
        &self,
        request: ApiGatewayWebsocketProxyRequest,
    ) -> ApiGatewayProxyResponse {
        self.websocket(request, Instant::now() + API_GATEWAY_TIMEOUT)
            .await
            .response
    }

    /// The route's file serves the event; one log line says what it did.
    async fn route(
        &self,
        route: Route,
        request: &ApiGatewayWebsocketProxyRequest,
        deadline: Instant,
    ) -> Invocation {
        let started = Instant::now();
        let Some(connection_id) = request.request_context.connection_id.as_deref() else {
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
            Route::Connect => (
                self.connect(connection_id, request).await,
                Report::default(),
            ),
            Route::Disconnect => (
                response(self.disconnect(connection_id).await, None),
                Report::default(),
            ),
            Route::Message => {
                let budget = Budget::new(started, deadline, true);
                (
                    response(200, None),
                    self.message(connection_id, request, budget).await,
                )
            }
        };
        log(route.key(), response.status_code, &report, 0, started);
        Invocation { response, report }
    }
}
