//! `$connect`: check the handshake (origin, the authorizer's verdict, the channels of the
//! query and what the token allows) and store the connection with its TTL. A refusal
//! answers the status and error object API Gateway refuses the upgrade with; a storage
//! failure refuses it (500), since a client that would never receive is worse.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};

use super::Handler;
use super::reply::response;
use crate::access::{authorizer, origin};
use crate::clock::or_now;
use crate::gateway::Gateway;
use crate::store::{Connection, ConnectionStore, rooms_of};
use crate::wire::channel;
use crate::wire::error::ErrorFrame;

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    pub(super) async fn connect(
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
        let refuse = |status: i64, code: &'static str, reason: String| {
            tracing::warn!(%reason, code, "connection refused");
            response(
                status,
                Some(ErrorFrame::new(code, reason).body().to_string()),
            )
        };
        let headers = event
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let origin = origin::of(headers);
        if !origin::allowed(origin, &self.settings.allowed_origins) {
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
        let authorizer::Admitted {
            sub,
            channels: allowed,
        } = identity.unwrap_or_default();
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
}
