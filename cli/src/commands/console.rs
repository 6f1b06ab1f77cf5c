//! `mb console`: the browser console pointed at a deployed stack.
//!
//! 1. Check the names; load the AWS configuration.
//! 2. Read the stack: its `wss://` URL (an output) and whether it requires tokens or
//!    lists allowed origins (its settings).
//! 3. Serve the console page on 127.0.0.1, print its address (and open a browser with
//!    `--open`), warn when the allowed origins leave out the page's own, and serve until
//!    Ctrl-C.

use std::io::Write;

use axum::Router;
use axum::routing::get;
use clap::Args;

use crate::aws::AwsArgs;
use crate::commands::service::{self, ServiceArgs};
use crate::console::{self, Config};
use crate::dev::{self, DevError};
use crate::error::Failure;
use crate::naming::Names;
use crate::settings;
use crate::stack::Stack;
use crate::ui::Ui;

/// The stack output holding the WebSocket URL.
const URL_OUTPUT: &str = "WebSocketUrl";

#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Port to serve the page on, on 127.0.0.1 (0 picks a free one); the page's origin,
    /// http://127.0.0.1:PORT, is what an allowed-origins list must hold
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Open the page in the system's browser
    #[arg(long)]
    pub open: bool,
}

pub async fn run(args: &ConsoleArgs, ui: &Ui) -> Result<(), Failure> {
    // Ctrl-C while reading the stack is an interruption (130); once the page is served,
    // it is how the console stops (0), as for `mb dev`.
    let (names, stack) = tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => {
            return Err(Failure::interrupted("interrupted before the console started"));
        }
        found = deployed(args, ui) => found?,
    };
    let config = config(&names, &stack)?;
    let listener = dev::bind("127.0.0.1", args.port)
        .await
        .map_err(|e| match e {
            DevError::PortTaken { addr } => Failure::new(format!(
                "{addr} is already in use; choose another port with --port"
            )),
            other => Failure::from(other),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::new(format!("cannot read the listening address: {e}")))?;
    let page = format!("http://{address}");

    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", started(&names, &config, &page));
    let _ = out.flush();
    if let Some(warning) = console::origin_warning(&allowed_origins(&stack), &page) {
        eprintln!("{warning}");
    }
    if args.open
        && let Err(err) = opener::open_browser(&page)
    {
        eprintln!("warning: cannot open a browser ({err}); open {page} yourself");
    }

    let app = Router::new()
        .route(
            "/",
            get(move || {
                let config = config.clone();
                async move { console::response(&config) }
            }),
        )
        .merge(console::client::routes())
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                "not found: the console is at /",
            )
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Failure::new(format!("the console server stopped: {e}")))?;
    let _ = writeln!(std::io::stdout(), "mb console: stopped");
    Ok(())
}

/// The service's names and its stack; a missing stack is a failure that says how to
/// deploy it.
async fn deployed(args: &ConsoleArgs, ui: &Ui) -> Result<(Names, Stack), Failure> {
    let (names, _, stack) = service::deployed(&args.service, &args.aws, ui).await?;
    Ok((names, stack))
}

/// The page's configuration for a deployed stack (pure).
pub fn config(names: &Names, stack: &Stack) -> Result<Config, Failure> {
    let Some(url) = stack.output(URL_OUTPUT) else {
        return Err(Failure::new(format!(
            "stack {} has no {URL_OUTPUT} output (status {}): it is not deployed yet or \
             failed; `mb info --service {} --stage {}` shows why",
            names.stack,
            stack.status.as_str(),
            names.service,
            names.stage
        )));
    };
    let deployed = settings::deployed(&stack.parameters);
    let token_required = deployed
        .iter()
        .any(|(s, value)| s.key == "auth" && *value == "jwt");
    let jwks = deployed
        .iter()
        .any(|(s, value)| s.key == "jwks-url" && !value.is_empty());
    let token_hint = if jwks {
        "Use a token from the issuer whose key set the stack trusts.".to_owned()
    } else {
        format!(
            "`mb token --service {} --stage {}` prints one to paste here.",
            names.service, names.stage
        )
    };
    Ok(Config {
        url: Some(url.to_owned()),
        label: format!(
            "service {}, stage {} ({})",
            names.service, names.stage, names.region
        ),
        publish: false,
        token_required,
        token_hint,
    })
}

/// The stack's allowed origins, as deployed (none: any origin).
fn allowed_origins(stack: &Stack) -> Vec<String> {
    settings::deployed(&stack.parameters)
        .into_iter()
        .filter(|(s, _)| s.key == "allow-origin")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What `mb console` prints once it serves (pure).
pub fn started(names: &Names, config: &Config, page: &str) -> String {
    let mut out = format!(
        "mb console: {} on {}\n  open {page} in a browser\n",
        config.label,
        config.url.as_deref().unwrap_or_default()
    );
    if config.token_required {
        out.push_str(&format!(
            "  tokens are required: `mb token --service {} --stage {}` prints one to paste \
             in the page\n",
            names.service, names.stage
        ));
    }
    out.push_str("  stop: Ctrl-C");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        crate::naming::example("eu-west-1")
    }

    fn stack(parameters: &[(&str, &str)]) -> Stack {
        let mut stack = Stack::gone("arn:stack/mb-chat-dev/1", "mb-chat-dev");
        stack.outputs = vec![(
            URL_OUTPUT.into(),
            "wss://a.execute-api.eu-west-1.amazonaws.com/dev".into(),
            None,
        )];
        stack.parameters = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        stack
    }

    #[test]
    fn the_page_points_at_the_stack_and_asks_for_a_token_when_one_is_required() {
        let open = config(&names(), &stack(&[("Auth", "none")])).unwrap();
        assert_eq!(
            open.url.as_deref(),
            Some("wss://a.execute-api.eu-west-1.amazonaws.com/dev")
        );
        assert!(!open.token_required && !open.publish);
        let closed = config(&names(), &stack(&[("Auth", "jwt")])).unwrap();
        assert!(closed.token_required);
        assert!(
            closed.token_hint.contains("mb token --service"),
            "{}",
            closed.token_hint
        );
        let text = started(&names(), &closed, "http://127.0.0.1:8081");
        assert!(
            text.contains("\n  open http://127.0.0.1:8081 in a browser\n"),
            "{text}"
        );
        assert!(text.contains("tokens are required"), "{text}");
        let issuer = config(
            &names(),
            &stack(&[
                ("Auth", "jwt"),
                ("JwksUrl", "https://idp.example/jwks.json"),
            ]),
        )
        .unwrap();
        assert!(
            issuer.token_hint.contains("issuer"),
            "{}",
            issuer.token_hint
        );
    }

    #[test]
    fn the_allowed_origins_are_read_from_the_settings() {
        let listed = stack(&[(
            "AllowedOrigins",
            "https://app.example,http://127.0.0.1:8081",
        )]);
        assert_eq!(
            allowed_origins(&listed),
            ["https://app.example", "http://127.0.0.1:8081"]
        );
        assert!(allowed_origins(&stack(&[("AllowedOrigins", "")])).is_empty());
    }

    #[test]
    fn a_stack_without_its_url_says_where_to_look() {
        let mut stack = stack(&[]);
        stack.outputs.clear();
        let why = config(&names(), &stack).unwrap_err().to_string();
        assert!(why.contains("has no WebSocketUrl output"), "{why}");
        assert!(why.contains("mb info"), "{why}");
    }
}
