//! The open WebSocket connections of `mb dev`, as API Gateway keeps them: a post to an id
//! that is not here answers 410 Gone, exactly what a closed connection gets on AWS.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// How many outgoing messages may queue for one slow client before posts to it are
/// throttled (429), as API Gateway does when a client's buffer is full.
pub const OUTBOX: usize = 1024;

/// A request to close a connection: the close frame's code and reason. It travels apart
/// from the outbox, so a full outbox cannot hold it up.
pub type Close = (u16, &'static str);

/// What `@connections` knows of one connection.
#[derive(Debug, Clone)]
pub struct Info {
    pub connected_at_ms: i64,
    pub last_active_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

struct Entry {
    outbox: mpsc::Sender<Bytes>,
    closer: oneshot::Sender<Close>,
    info: Info,
}

/// The answer to a post.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    Queued,
    Gone,
    /// The client is not reading fast enough.
    Throttled,
}

#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<String, Entry>>,
}

impl Connections {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock means a panic elsewhere mid-update of a plain map: still usable.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(
        &self,
        id: String,
        outbox: mpsc::Sender<Bytes>,
        closer: oneshot::Sender<Close>,
        info: Info,
    ) {
        self.open().insert(
            id,
            Entry {
                outbox,
                closer,
                info,
            },
        );
    }

    /// Forgets a connection: from now on posts to it answer 410.
    pub fn remove(&self, id: &str) {
        self.open().remove(id);
    }

    pub fn info(&self, id: &str) -> Option<Info> {
        self.open().get(id).map(|e| e.info.clone())
    }

    pub fn touch(&self, id: &str, now_ms: i64) {
        if let Some(entry) = self.open().get_mut(id) {
            entry.info.last_active_ms = now_ms;
        }
    }

    /// Closes the connection (DeleteConnection, shutdown, an oversized message): it is
    /// gone at once for `@connections`, and its socket sends the close frame next.
    pub fn close(&self, id: &str, code: u16, reason: &'static str) -> Posted {
        let Some(entry) = self.open().remove(id) else {
            return Posted::Gone;
        };
        // A writer that already ended has closed the socket anyway.
        let _ = entry.closer.send((code, reason));
        Posted::Queued
    }

    pub fn post(&self, id: &str, data: Bytes) -> Posted {
        let open = self.open();
        let Some(entry) = open.get(id) else {
            return Posted::Gone;
        };
        match entry.outbox.try_send(data) {
            Ok(()) => Posted::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Posted::Throttled,
            Err(mpsc::error::TrySendError::Closed(_)) => Posted::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            connected_at_ms: 1,
            last_active_ms: 1,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
        }
    }

    #[test]
    fn posts_to_unknown_or_removed_connections_are_gone() {
        let connections = Connections::default();
        let (tx, mut rx) = mpsc::channel(1);
        connections.add("a".into(), tx, oneshot::channel().0, info());
        assert_eq!(
            connections.post("a", Bytes::from_static(b"x")),
            Posted::Queued
        );
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from_static(b"x")));
        assert_eq!(connections.post("b", Bytes::new()), Posted::Gone);
        connections.remove("a");
        assert_eq!(connections.post("a", Bytes::new()), Posted::Gone);
    }

    #[test]
    fn a_closed_connection_is_gone_at_once() {
        let connections = Connections::default();
        let (tx, _rx) = mpsc::channel(1);
        let (closer, mut closed) = oneshot::channel();
        connections.add("a".into(), tx, closer, info());
        // Even with a full outbox, the close goes through.
        assert_eq!(connections.post("a", Bytes::new()), Posted::Queued);
        assert_eq!(connections.close("a", 1000, "bye"), Posted::Queued);
        assert_eq!(closed.try_recv().ok(), Some((1000, "bye")));
        assert_eq!(connections.post("a", Bytes::new()), Posted::Gone);
        assert!(connections.info("a").is_none());
        assert_eq!(connections.close("a", 1000, "bye"), Posted::Gone);
    }

    #[test]
    fn a_full_outbox_throttles() {
        let connections = Connections::default();
        let (tx, _rx) = mpsc::channel(1);
        connections.add("a".into(), tx, oneshot::channel().0, info());
        assert_eq!(connections.post("a", Bytes::new()), Posted::Queued);
        assert_eq!(connections.post("a", Bytes::new()), Posted::Throttled);
    }
}
