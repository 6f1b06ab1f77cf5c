//! `mb dev`: the broadcast handler on loopback WebSockets, no AWS account needed.
//!
//! 1. Listen on `--host:--port` (say so clearly when the port is taken).
//! 2. Pick the store: in memory, or DynamoDB at `--dynamodb-endpoint` (e.g. moto).
//! 3. Run the handler behind API Gateway's WebSocket behaviour until Ctrl-C.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use mb_lambda::Handler;
use mb_lambda::access::keys::{KeyProvider, KeySetFile};
use mb_lambda::access::tokens::Verifier;
use mb_lambda::config::{Auth, DEFAULT_CONCURRENCY, Settings};
use mb_lambda::delivery::connect_window::DEFAULT_GRACE_SECONDS;
use mb_lambda::delivery::continuation::LambdaInvoker;
use mb_lambda::store::{ConnectionStore, DynamoStore, MemoryStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::aws;
use crate::dev::{self, Dev, connections::Connections};
use crate::error::Failure;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Stage name put in events (`requestContext.stage`)
    #[arg(long, default_value = "dev")]
    pub stage: String,
    /// Store connections in DynamoDB at this endpoint (e.g. moto) instead of in memory
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// Table for --dynamodb-endpoint (created if missing)
    #[arg(long, default_value = "mb-dev-rooms", requires = "dynamodb_endpoint")]
    pub table: String,
    /// Posts in flight at once per broadcast
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub concurrency: u16,
    /// Function timeout in seconds: a broadcast still running near it (or near API
    /// Gateway's 29 s) hands the rest on to a new invocation, as on AWS
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=900))]
    pub timeout: u16,
    /// A 410 Gone from a connection stored less than this many seconds ago keeps its row
    /// (the client may still be connecting), as on AWS
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_GRACE_SECONDS as u16, value_parser = clap::value_parser!(u16).range(0..=300))]
    pub connect_grace: u16,
    /// Milliseconds between $connect returning and the connection being established, as
    /// API Gateway takes on AWS; posts to the connection meanwhile answer 410 (the
    /// connect window)
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=10000))]
    pub connect_delay: u16,
    /// Send no $disconnect when a client vanishes without a close frame (API Gateway's
    /// $disconnect is best effort); its row then goes on the next broadcast's 410
    #[arg(long)]
    pub no_disconnect_on_drop: bool,
    /// Require a token (`?token=JWT`), HS256-signed with the secret in this file (at
    /// least 32 bytes; `mb token --secret-file` mints one): 401 without a token, 403
    /// with a bad one, as API Gateway's authorizer
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_file")]
    pub auth_secret_file: Option<std::path::PathBuf>,
    /// Require a token signed (RS256/ES256) by a key of this JWKS file, read again (at
    /// most every 30 s) when a token names a key it lacks
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The issuer (`iss`) tokens must have (a token without one is refused); required
    /// with --jwks-file
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The audience (`aud`) tokens must have (a token without one is refused)
    #[arg(long)]
    pub audience: Option<String>,
    /// Refuse (403) a browser handshake whose Origin is not this one (repeatable)
    #[arg(long = "allow-origin", value_name = "URL", value_parser = parse_origin)]
    pub allow_origins: Vec<String>,
    /// Messages one connection may send per second; over it, the sender gets
    /// `rate_limited` and nothing is broadcast (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub max_messages_per_second: u32,
    /// How long a channel keeps each message, numbered (`_seq`, `_epoch`), for a client
    /// that reconnects and resumes (0: no history); kept in memory, or in the table with
    /// --dynamodb-endpoint
    #[arg(long, value_name = "N", default_value_t = mb_lambda::store::DEFAULT_HISTORY_SECONDS, value_parser = clap::value_parser!(u32).range(0..=i64::from(mb_lambda::store::MAX_HISTORY_SECONDS)))]
    pub history_seconds: u32,
    /// The default room keeps history too: its copies then carry `_seq` and `_epoch`
    /// (without it they stay byte for byte as before history)
    #[arg(long)]
    pub default_room_history: bool,
    /// How long a bus event's id (`POST /events`) or a publish's `Idempotency-Key` is
    /// remembered: a repeat within it reaches nobody
    #[arg(long, value_name = "N", default_value_t = mb_lambda::store::DEFAULT_DEDUPE_SECONDS, value_parser = clap::value_parser!(u32).range(60..=i64::from(mb_lambda::store::MAX_DEDUPE_SECONDS)))]
    pub dedupe_seconds: u32,
    /// Close every connection (1001 "Going away", then $disconnect) this many seconds
    /// after it opened, whatever its traffic, as API Gateway does after 2 hours; a few
    /// seconds make clients' reconnects testable
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTION_SECONDS, value_parser = clap::value_parser!(u32).range(1..=i64::from(DEFAULT_MAX_CONNECTION_SECONDS)))]
    pub max_connection_seconds: u32,
    /// Close a connection (1001 "Going away", then $disconnect) after this many seconds
    /// without a message in either direction (a data frame from the client, or one posted
    /// to it; WebSocket ping frames do not count), as API Gateway does after 10 minutes
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IDLE_TIMEOUT_SECONDS, value_parser = clap::value_parser!(u32).range(1..=i64::from(DEFAULT_MAX_CONNECTION_SECONDS)))]
    pub idle_timeout_seconds: u32,
}

/// API Gateway's limits on a WebSocket connection: 2 hours in all, 10 minutes idle.
pub const DEFAULT_MAX_CONNECTION_SECONDS: u32 = mb_lambda::store::MAX_CONNECTION_SECONDS as u32;
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u32 = 600;

fn parse_origin(entry: &str) -> Result<String, String> {
    mb_lambda::access::origin::parse(entry)
}

/// The token check `--auth-secret-file` or `--jwks-file` asks for. Either file is read
/// now, so that a bad one is a usage error; a key set file is read again, as a URL would
/// be fetched, when a token names a key it lacks (`mb_lambda::access::keys`).
fn auth(args: &DevArgs) -> Result<Option<Auth>, Failure> {
    let (issuer, audience) = (args.issuer.clone(), args.audience.clone());
    match (&args.auth_secret_file, &args.jwks_file) {
        (Some(path), _) => {
            let mut secret = std::fs::read(path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read the token secret file {}: {e}",
                    path.display()
                ))
            })?;
            // A trailing newline is the file's, not the secret's.
            while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                secret.pop();
            }
            let verifier = Verifier::secret(secret)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            Ok(Some(Auth::fixed(
                verifier.issuer(issuer).audience(audience),
            )))
        }
        (None, Some(path)) => {
            if issuer.as_deref().is_none_or(|i| i.trim().is_empty()) {
                return Err(Failure::usage(
                    "--jwks-file without --issuer would accept tokens the key set signs for \
                     any other application: add --issuer with the `iss` its tokens carry \
                     (docs/security.md)",
                ));
            }
            let file = KeySetFile(path.clone());
            let verifier = file.read().map_err(Failure::usage)?;
            let provider = KeyProvider::seeded(verifier, file, issuer, audience);
            Ok(Some(Auth(Arc::new(provider))))
        }
        (None, None) => {
            if issuer.is_some() || audience.is_some() {
                return Err(Failure::usage(
                    "--issuer and --audience check tokens: add --auth-secret-file or --jwks-file",
                ));
            }
            Ok(None)
        }
    }
}

pub async fn run(args: DevArgs) -> Result<(), Failure> {
    // Bad token or origin settings are usage errors, found before anything starts.
    let auth = auth(&args)?;
    let listener = dev::bind(&args.host, args.port).await?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(format!("cannot read the listening address: {e}")))?;
    if let Some(warning) = exposure(local) {
        eprintln!("{warning}");
    }
    // Clients and the handler's Management API client use the address as bound; a
    // wildcard host is reached through loopback.
    let reachable = if local.ip().is_unspecified() {
        format!("127.0.0.1:{}", local.port())
    } else {
        local.to_string()
    };

    let sdk = aws::local_config().await?;
    let settings = Settings {
        concurrency: usize::from(args.concurrency),
        management_endpoint: Some(format!("http://{reachable}")),
        connect_grace_ms: i64::from(args.connect_grace) * 1000,
        auth,
        allowed_origins: args.allow_origins.clone(),
        max_messages_per_second: args.max_messages_per_second,
        history_seconds: args.history_seconds,
        default_room_history: args.default_room_history,
        dedupe_seconds: args.dedupe_seconds,
    };
    match &args.dynamodb_endpoint {
        None => {
            serve(
                listener,
                &args,
                &reachable,
                MemoryStore::new(),
                &sdk,
                settings,
                "memory".into(),
            )
            .await
        }
        Some(endpoint) => {
            let store = DynamoStore::new(&aws::with_endpoint(&sdk, endpoint), args.table.clone());
            store.ensure_table().await.map_err(|e| {
                // A table of the wrong shape says what to do; anything else is most
                // likely an endpoint that is not there.
                let hint = if e.operation == "DescribeTable" {
                    ""
                } else {
                    "; is the endpoint running?"
                };
                Failure::new(format!(
                    "cannot use DynamoDB table {} at {endpoint}: {e}{hint}",
                    args.table
                ))
            })?;
            let label = format!("DynamoDB table {} at {endpoint}", args.table);
            serve(listener, &args, &reachable, store, &sdk, settings, label).await
        }
    }
}

async fn serve<S: ConnectionStore + 'static>(
    listener: tokio::net::TcpListener,
    args: &DevArgs,
    reachable: &str,
    store: S,
    sdk: &aws_config::SdkConfig,
    settings: Settings,
    store_label: String,
) -> Result<(), Failure> {
    // The handler hands on through its real Lambda client, to the Invoke API served here.
    let invoker = LambdaInvoker::new(
        &aws::with_endpoint(sdk, &format!("http://{reachable}")),
        dev::invoke::FUNCTION,
    );
    let connections = Arc::new(Connections::default());
    let dev = Arc::new(Dev {
        handler: Handler::new(
            store,
            dev::local_gateway::LocalGateway::new(Arc::clone(&connections)),
            settings,
        )
        .with_invoker(Arc::new(invoker)),
        timeout: std::time::Duration::from_secs(u64::from(args.timeout)),
        connect_delay: std::time::Duration::from_millis(u64::from(args.connect_delay)),
        max_connection: std::time::Duration::from_secs(u64::from(args.max_connection_seconds)),
        idle_timeout: std::time::Duration::from_secs(u64::from(args.idle_timeout_seconds)),
        connections,
        domain_name: reachable.to_owned(),
        stage: args.stage.clone(),
        api_id: "mbdev".to_owned(),
        disconnect_on_drop: !args.no_disconnect_on_drop,
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        closed_at_shutdown: Default::default(),
    });
    // A closed stdout (`mb dev | head -1`) must not stop the server: writes may fail.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "mb dev: broadcasting on ws://{reachable} (store: {store_label})\n  \
         console:           open http://{reachable} in a browser\n  \
         connect a client:  wscat -c ws://{reachable}   (a channel: ws://{reachable}/?channel=NAME)\n  \
         publish:           mb publish --url http://{reachable} [--channel NAME] MESSAGE\n  \
                            (POST http://{reachable}{publish_path}?channel=NAME)\n  \
         bus events:        POST http://{reachable}{events_path} {{\"channel\":..,\"event\":..,\"data\":..,\"id\":..}}\n  \
         Management API:    http://{reachable}/@connections/{{id}}\n  \
         Lambda Invoke API: http://{reachable}/2015-03-31/functions/{}/invocations\n  \
         JavaScript client: http://{reachable}{client_path} (reconnects and resumes)\n  \
         connections:       closed after {} s, or {} s without a message, as API Gateway does \
         (--max-connection-seconds, --idle-timeout-seconds)\n  \
         stop:              Ctrl-C",
        dev::invoke::FUNCTION,
        args.max_connection_seconds,
        args.idle_timeout_seconds,
        client_path = crate::console::client::MODULE_PATH,
        publish_path = dev::publish::PATH,
        events_path = dev::bus_events::PATH,
    );
    let _ = out.flush();
    if let Some(warning) =
        crate::console::origin_warning(&args.allow_origins, &format!("http://{reachable}"))
    {
        eprintln!("{warning}");
    }

    let shutdown = dev.shutdown.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        shutdown.cancel();
    });
    let stopped = dev::serve(listener, dev).await?;
    let _ = writeln!(
        std::io::stdout(),
        "mb dev: stopped ({} connection(s) closed)",
        stopped.closed
    );
    Ok(())
}

/// The warning for an address other machines can reach (pure): `mb dev` has no
/// authentication, and its Management API lets whoever reaches it act on every connection.
pub fn exposure(local: std::net::SocketAddr) -> Option<String> {
    if local.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "warning: mb dev listens on {local}, which other machines can reach. Anyone on the \
         network can connect, and its unauthenticated Management API \
         (http://{local}/@connections/{{id}}) lets them send to, read and close every \
         connection. Use --host 127.0.0.1 unless you mean to share it"
    ))
}

/// Ctrl-C, or SIGTERM from a process manager.
async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_address_is_quiet() {
        for quiet in ["127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"] {
            assert_eq!(exposure(quiet.parse().unwrap()), None, "{quiet}");
        }
        for exposed in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:8080"] {
            let warning = exposure(exposed.parse().unwrap()).expect(exposed);
            assert!(
                warning.starts_with("warning: mb dev listens on "),
                "{warning}"
            );
            assert!(warning.contains("send to, read and close every connection"));
            assert!(warning.contains("--host 127.0.0.1"));
        }
    }
}
