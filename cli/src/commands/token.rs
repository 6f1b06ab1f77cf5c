//! `mb token`: mints an HS256 token a client connects with (`?token=`), signed with the
//! deployment's secret: the one in a file (`--secret-file`, as `mb dev
//! --auth-secret-file` reads it). The token is printed on stdout and nowhere else; with
//! `--url` the connect URL that carries it.

use std::path::PathBuf;

use clap::Args;
use mb_lambda::auth;
use mb_lambda::channel::Channel;

use crate::error::Failure;

/// The longest a token may live: a leaked token is good until its `exp`.
const MAX_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Sign with the secret in this file (what `mb dev --auth-secret-file` reads)
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// The token's subject (`sub`), stored with the connection
    #[arg(long, value_name = "ID")]
    pub sub: Option<String>,
    /// A channel the token may join or subscribe to (repeatable; none: any channel)
    #[arg(long = "channel", value_name = "NAME", value_parser = parse_channel)]
    pub channels: Vec<Channel>,
    /// How long the token is valid: 30s, 10m, 2h or 1d (at most 30d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    pub ttl: u64,
    /// Also print the connect URL with the token, for this WebSocket URL
    /// (`ws://127.0.0.1:8080` for `mb dev`)
    #[arg(long, value_name = "WS_URL")]
    pub url: Option<String>,
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

pub fn run(args: &TokenArgs) -> Result<(), Failure> {
    let mut secret = std::fs::read(&args.secret_file).map_err(|e| {
        Failure::usage(format!(
            "cannot read the token secret file {}: {e}",
            args.secret_file.display()
        ))
    })?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    let token = auth::mint(
        &secret,
        args.sub.as_deref(),
        &args.channels,
        args.ttl,
        auth::now_seconds(),
    )
    .map_err(|e| Failure::usage(format!("{}: {e}", args.secret_file.display())))?;
    let mut out = token.clone();
    out.push('\n');
    if let Some(url) = &args.url {
        out.push_str(&connect_url(url, &token, &args.channels)?);
        out.push('\n');
    }
    crate::ui::print(&out)
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
