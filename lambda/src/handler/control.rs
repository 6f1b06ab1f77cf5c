//! The control actions a client sends: `subscribe`, `unsubscribe`, `ping` (a `publish`
//! is a message to one channel: [`super::message`]). The sender gets the reply.

use super::Handler;
use super::reply::{refuse, reply};
use crate::delivery::fanout::Report;
use crate::gateway::{Gateway, Poster};
use crate::store::{Connection, ConnectionStore, Room};
use crate::wire::channel::{self, ChannelError};
use crate::wire::control::{self, Control, ControlError};
use crate::wire::message::Refusal;

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// Carries out subscribe, unsubscribe and ping; the sender gets the reply.
    pub(super) async fn control<P: Poster>(
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
            Control::Ping(_) | Control::Publish { .. } | Control::Resume { .. } => Ok(()),
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
}
