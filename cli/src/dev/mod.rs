//! `mb dev`: API Gateway's WebSocket behaviour on loopback, running the very handler that
//! runs on Lambda. Clients connect over real WebSockets; each `$connect`, message and
//! `$disconnect` becomes the event API Gateway would send, through the function's one
//! door (`mb_lambda::event`); the handler's posts reach the recipients' outboxes with the
//! Management API's answers (`local_gateway.rs`), and the Management API itself is served
//! here on the same port (`/@connections/{id}`) for any other caller, where a closed
//! connection answers 410.
//! A broadcast cut short by its deadline continues through the Lambda Invoke API served
//! on that port too (`/2015-03-31/functions/mb-dev/invocations`), and a backend
//! publishes with `POST /publish?channel=NAME` (a deployed stack's function URL) and
//! sends bus events with `POST /events` (a deployed stack's events queue).

pub mod bus_events;
pub mod connections;
pub mod events;
pub mod invoke;
pub mod local_gateway;
pub mod management;
pub mod post_to_connection;
pub mod publish;
pub mod socket;
mod state;

pub use state::Dev;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use mb_lambda::store::ConnectionStore;
use tokio::net::{TcpListener, TcpSocket};

/// How long stopping waits for connections to send their close frames and `$disconnect`.
const DRAIN: Duration = Duration::from_secs(5);

/// Why the dev server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(
        "{addr} is already in use (another `mb dev`?); stop that process or choose another port with --port"
    )]
    PortTaken { addr: String },
    #[error("cannot listen on {addr}: {source}; check --host and --port")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the dev server stopped: {0}")]
    Serve(std::io::Error),
}

/// To the user: a failure (exit 1), in the error's own words.
impl From<DevError> for crate::error::Failure {
    fn from(err: DevError) -> Self {
        crate::error::Failure::new(err.to_string())
    }
}

/// Connections that may wait to be accepted; the default (128) drops the SYNs of a
/// burst of clients, which then wait a second to retry.
const BACKLOG: u32 = 1024;

/// Binds the listening socket, saying clearly when the port is taken.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, DevError> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let bind_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            DevError::PortTaken { addr: addr.clone() }
        } else {
            DevError::Bind {
                addr: addr.clone(),
                source,
            }
        }
    };
    let mut last = None;
    for resolved in tokio::net::lookup_host(&addr).await.map_err(bind_error)? {
        let socket = if resolved.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(bind_error)?;
        // As std and tokio do on Unix: a restarted `mb dev` can bind while old sockets
        // linger. (On Windows it would let two servers share the port.)
        #[cfg(unix)]
        socket.set_reuseaddr(true).map_err(bind_error)?;
        match socket.bind(resolved).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(bind_error(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host resolved to no address",
        )
    })))
}

/// What a stopped server reports.
#[derive(Debug)]
pub struct Stopped {
    pub closed: usize,
}

/// Serves until `dev.shutdown` is cancelled, then closes every connection (close frame
/// 1001 and `$disconnect`) and returns.
pub async fn serve<S: ConnectionStore + 'static>(
    listener: TcpListener,
    dev: Arc<Dev<S>>,
) -> Result<Stopped, DevError> {
    let connections = Router::new()
        .route(
            "/@connections/{id}",
            post(management::post::<S>)
                .get(management::get::<S>)
                .delete(management::delete::<S>),
        )
        .route(
            "/{stage}/@connections/{id}",
            post(management::post::<S>)
                .get(management::get::<S>)
                .delete(management::delete::<S>),
        )
        .route(
            mb_lambda::local::invoke_api::PATH,
            post(invoke::invoke::<S>),
        )
        .route(publish::PATH, axum::routing::any(publish::publish::<S>))
        .route(bus_events::PATH, post(bus_events::events::<S>))
        .merge(crate::console::client::routes())
        .fallback(socket::upgrade::<S>)
        .with_state(Arc::clone(&dev));
    let shutdown = dev.shutdown.clone();
    axum::serve(
        listener,
        connections.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(DevError::Serve)?;

    dev.tracker.close();
    if tokio::time::timeout(DRAIN, dev.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    Ok(Stopped {
        closed: dev.closed_at_shutdown.load(Ordering::SeqCst),
    })
}
