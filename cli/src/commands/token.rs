//! `mb token`: mints an HS256 token a client connects with (`?token=`), signed with the
//! deployment's secret: the deployed service's (`--service`: the stack's `AuthSecret`
//! output names the Secrets Manager secret, read with GetSecretValue), or the one in a
//! file (`--secret-file`, as `mb dev --auth-secret-file` reads it). The token is printed
//! on stdout and nowhere else (the secret never); with `--url` the connect URL that
//! carries it: the stack's `WebSocketUrl`, or the URL given.

use std::path::PathBuf;

use clap::Args;
use mb_lambda::access::tokens;
use mb_lambda::wire::channel::Channel;

use crate::aws::AwsArgs;
use crate::commands::service::{self, ServiceArgs};
use crate::error::Failure;
use crate::ui::Ui;

/// The longest a token may live: a leaked token is good until its `exp`.
const MAX_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;
/// The stack output naming the token secret (its ARN).
pub const SECRET_OUTPUT: &str = "AuthSecret";
/// The stack output clients connect to.
const URL_OUTPUT: &str = "WebSocketUrl";

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Sign with the secret in this file (what `mb dev --auth-secret-file` reads), instead
    /// of a deployed service's
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The token's subject (`sub`), stored with the connection
    #[arg(long, value_name = "ID")]
    pub sub: Option<String>,
    /// A channel the token may join or subscribe to (repeatable; none: any channel)
    #[arg(long = "channel", value_name = "NAME", value_parser = parse_channel)]
    pub channels: Vec<Channel>,
    /// How long the token is valid: 30s, 10m, 2h or 1d (at most 30d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    pub ttl: u64,
    /// Also print the connect URL with the token: the deployed service's, or this
    /// WebSocket URL (`ws://127.0.0.1:8080` for `mb dev`; needed with --secret-file)
    #[arg(long, value_name = "WS_URL", num_args = 0..=1)]
    pub url: Option<Option<String>>,
}

fn parse_channel(name: &str) -> Result<Channel, String> {
    Channel::parse(name).map_err(|e| e.to_string())
}

fn parse_ttl(value: &str) -> Result<u64, String> {
    let seconds = crate::logs::since::parse(value)?.as_secs();
    if seconds > MAX_TTL_SECONDS {
        return Err(format!(
            "`{value}` is longer than a token may live (30d): a leaked token is good until it expires"
        ));
    }
    Ok(seconds)
}

pub async fn run(args: &TokenArgs, ui: &Ui) -> Result<(), Failure> {
    let (secret, deployed_url) = match &args.secret_file {
        Some(file) => (read_secret_file(file)?, None),
        None => {
            if args.service.given().is_none() {
                return Err(Failure::usage(
                    "say whose secret signs the token: --service NAME (a deployed service \
                     with --auth jwt) or --secret-file FILE (mb dev's)",
                ));
            }
            deployed_secret(args, ui).await?
        }
    };
    let token = tokens::mint(
        &secret,
        args.sub.as_deref(),
        &args.channels,
        args.ttl,
        mb_lambda::clock::now_seconds(),
    )
    .map_err(|e| match &args.secret_file {
        Some(file) => Failure::usage(format!("{}: {e}", file.display())),
        None => Failure::new(format!("the deployed token secret cannot sign: {e}")),
    })?;
    let mut out = token.clone();
    out.push('\n');
    if let Some(url) = &args.url {
        let base = match (url, &deployed_url) {
            (Some(given), _) => given.as_str(),
            (None, Some(deployed)) => deployed.as_str(),
            (None, None) => {
                return Err(Failure::usage(
                    "--url needs the WebSocket URL with --secret-file (`--url ws://127.0.0.1:8080` for mb dev)",
                ));
            }
        };
        out.push_str(&connect_url(base, &token, &args.channels)?);
        out.push('\n');
    }
    crate::ui::print(&out)
}

fn read_secret_file(file: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let mut secret = std::fs::read(file).map_err(|e| {
        Failure::usage(format!(
            "cannot read the token secret file {}: {e}",
            file.display()
        ))
    })?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    Ok(secret)
}

/// The deployed service's token secret (from the secret its stack's `AuthSecret` output
/// names) and its `WebSocketUrl`.
async fn deployed_secret(args: &TokenArgs, ui: &Ui) -> Result<(Vec<u8>, Option<String>), Failure> {
    let (names, aws) = service::connect(&args.service, &args.aws, ui).await?;
    let Some(stack) = crate::stack::describe(&aws.cloudformation(), &names.stack).await? else {
        return Err(Failure::new(format!(
            "no stack {} in {}: service `{}` stage `{}` is not deployed there (deploy it \
             with `mb deploy --service {} --stage {} --auth jwt`)",
            names.stack, names.region, names.service, names.stage, names.service, names.stage
        )));
    };
    let Some(arn) = stack.output(SECRET_OUTPUT) else {
        return Err(Failure::new(no_secret_why(&names, &stack.parameters)));
    };
    let answer = aws
        .secretsmanager()
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| crate::aws::failure(&e, "Secrets Manager GetSecretValue"))?;
    let secret = match (answer.secret_string(), answer.secret_binary()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => {
            return Err(Failure::new(format!(
                "the token secret {arn} has no value (Secrets Manager GetSecretValue answered \
                 without one)"
            )));
        }
    };
    Ok((secret, stack.output(URL_OUTPUT).map(str::to_owned)))
}

/// Why a deployed stack has no token secret, from its parameters (pure).
pub fn no_secret_why(names: &crate::naming::Names, parameters: &[(String, String)]) -> String {
    let value = |key: &str| {
        parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let redeploy = format!(
        "`mb deploy --service {} --stage {} --auth jwt`",
        names.service, names.stage
    );
    match (value("Auth"), value("JwksUrl")) {
        (Some("jwt"), Some(url)) if !url.is_empty() => format!(
            "stack {} takes tokens from the issuer of {url} (--jwks-url), which signs them: \
             mb has no secret to mint one with; get tokens from that issuer",
            names.stack
        ),
        (Some("jwt"), _) => format!(
            "stack {} has no {SECRET_OUTPUT} output although it requires tokens; deploy it \
             again with {redeploy}",
            names.stack
        ),
        _ => format!(
            "stack {} does not require tokens (auth none: anyone with the URL connects), so \
             it has no token secret; deploy it with {redeploy} first",
            names.stack
        ),
    }
}

/// The connect URL for `base` with the token (and the channels, which a token limited to
/// channels would join anyway) (pure).
pub fn connect_url(base: &str, token: &str, channels: &[Channel]) -> Result<String, Failure> {
    if !(base.starts_with("ws://") || base.starts_with("wss://")) {
        return Err(Failure::usage(format!(
            "--url {base:?} is not a WebSocket URL: give the ws:// or wss:// URL clients connect to"
        )));
    }
    let mut url = base.to_owned();
    let authority_end = base
        .find("://")
        .map(|at| at + 3)
        .and_then(|start| base[start..].find(['/', '?']).map(|i| start + i));
    if !matches!(authority_end, Some(i) if base.as_bytes()[i] == b'/') {
        // `ws://host?x` has no path: the request line needs one (`/`).
        match authority_end {
            Some(i) => url.insert(i, '/'),
            None => url.push('/'),
        }
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    // A JWT is base64url and dots: nothing in it needs escaping in a query.
    url = format!("{url}{separator}token={token}");
    for channel in channels {
        url.push_str("&channel=");
        url.push_str(channel.as_str());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_forms_and_cap() {
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert!(parse_ttl("31d").unwrap_err().contains("30d"));
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn a_stack_without_a_secret_says_why() {
        let names = crate::naming::example("eu-west-1");
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(
            no_secret_why(&names, &p(&[("Auth", "none")]))
                .contains("does not require tokens (auth none")
        );
        assert!(no_secret_why(&names, &[]).contains("--auth jwt"));
        assert!(
            no_secret_why(
                &names,
                &p(&[("Auth", "jwt"), ("JwksUrl", "https://idp/keys")])
            )
            .contains("from the issuer of https://idp/keys")
        );
    }

    #[test]
    fn connect_urls() {
        let a = Channel::parse("a").unwrap();
        assert_eq!(
            connect_url("ws://127.0.0.1:8080", "t.o.k", &[a]).unwrap(),
            "ws://127.0.0.1:8080/?token=t.o.k&channel=a"
        );
        assert_eq!(
            connect_url("wss://x/dev?x=1", "t", &[]).unwrap(),
            "wss://x/dev?x=1&token=t"
        );
        assert_eq!(
            connect_url("wss://x?y=1", "t", &[]).unwrap(),
            "wss://x/?y=1&token=t"
        );
        assert!(connect_url("https://x", "t", &[]).is_err());
    }
}
