//! A frame from a client (`$default`): a control message goes to [`super::control`];
//! anything else is shaped for each of the sender's rooms and broadcast, the sender's
//! copy first. A message that cannot be broadcast (too large, not text, over the rate,
//! storage down) gets the sender an error frame. A sender whose row is missing is
//! evidently connected: its row is written again.

use std::borrow::Cow;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

use super::Handler;
use super::broadcast::{Job, shape_rooms, too_large};
use super::reply::{refuse, reply};
use crate::access::rate;
use crate::clock::or_now;
use crate::delivery::deadline::Budget;
use crate::delivery::fanout::Report;
use crate::gateway::{Gateway, management_endpoint};
use crate::store::{Connection, ConnectionStore, Room, Row};
use crate::wire::control::{self, Control, ControlError, Sent};
use crate::wire::message::{self, Refusal};

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// A frame from a client: a control message, or a message for its rooms.
    pub(super) async fn message(
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
            Sent::Message => (text, connection.rooms.iter().cloned().collect()),
            Sent::Control(Control::Publish { channel, text }) => {
                let room = Room::Channel(channel);
                if !connection.rooms.contains(&room) {
                    let err = ControlError::NotMember(room.key().to_owned());
                    return reply(&poster, sender, err.frame(now), Some(err.code())).await;
                }
                (Cow::Owned(text), vec![room])
            }
            Sent::Control(Control::Resume { channel, asked }) => {
                return self
                    .resume(&poster, &connection, channel, asked, now, budget)
                    .await;
            }
            Sent::Control(control) => {
                return self.control(&poster, &connection, control, now).await;
            }
        };
        if rooms.is_empty() {
            // In no room (it left them all): only its own copy, numbered nowhere.
            let shaped = message::shape(&text, now);
            if let Err(refusal) = message::check_size(&shaped) {
                return refuse(&poster, sender, refusal, now).await;
            }
            return reply(&poster, sender, shaped.for_sender, None).await;
        }
        let unnumbered = shape_rooms(&text, now, &rooms, &[]);
        if let Some(refusal) = too_large(&unnumbered, self.numbers_any(&rooms)) {
            return refuse(&poster, sender, refusal, now).await;
        }
        let (shaped, positions) = match self.number(&text, now, &rooms).await {
            Ok(numbered) => numbered,
            Err(err) => {
                tracing::error!(%err, "could not number the message; message not broadcast");
                return refuse(&poster, sender, Refusal::StorageUnavailable, now).await;
            }
        };
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
                room_index: 0,
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
            positions: &positions,
            cursor: (0, None),
            hop: 0,
        };
        self.deliver(&poster, &job, &shaped, queue, Vec::new(), budget)
            .await
    }

    /// Writes the record of a sender that has none: it just sent, so it is connected.
    /// Its channels are not known any more: it is stored in the default room.
    ///
    /// With tokens required, what its token allowed is not known either: it is stored in
    /// no room and allowed no channel, so a lost record never widens what a connection may
    /// hear (it gets its own copies until it reconnects).
    pub(super) async fn restore(&self, sender: &str, connected_at_ms: i64) -> Connection {
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
}
