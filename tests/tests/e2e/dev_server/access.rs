//! Who may connect, end to end against the built `mb dev` with real WebSocket clients:
//! tokens at the handshake (401 without, 403 when bad, as API Gateway's authorizer), a
//! token's channels, the origin allowlist, the per-connection message limit, and no
//! token in any log line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mb_lambda::access::tokens;
use mb_tests::mb::{self, DevServer};
use mb_tests::ws::{Client, Next};

const SECRET: &str = "a test secret of at least thirty-two bytes";

/// A file holding `text`, unique to this test process and `name`.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("mb-access-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write a temporary file");
    path
}

/// `mb token` with `args`: its stdout lines.
fn mb_token(args: &[&str]) -> Vec<String> {
    let out = mb::run(&[&["token"], args].concat(), Duration::from_secs(30));
    mb_tests::assert_ok("mb token", &out);
    mb_tests::text(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn tokens_gate_the_handshake_as_api_gateway_does() {
    let secret = file("secret", &format!("{SECRET}\n"));
    let secret_path = secret.to_str().unwrap();
    let dev = DevServer::start(&["--auth-secret-file", secret_path]);

    let (status, _) = Client::refused(&dev.url).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = Client::refused(&format!("{}/?token=", dev.url)).await;
    assert_eq!(status, 401, "an empty token");

    let now = mb_lambda::clock::now_seconds();
    let expired = tokens::mint(SECRET.as_bytes(), Some("x"), &[], 60, now - 3600).unwrap();
    let (status, _) = Client::refused(&format!("{}/?token={expired}", dev.url)).await;
    assert_eq!(status, 403, "an expired token");
    let forged = tokens::mint(
        b"another secret, also thirty-two bytes",
        None,
        &[],
        600,
        now,
    )
    .unwrap();
    let (status, _) = Client::refused(&format!("{}/?token={forged}", dev.url)).await;
    assert_eq!(status, 403, "a token signed with another secret");

    let lines = mb_token(&[
        "--secret-file",
        secret_path,
        "--sub",
        "alice",
        "--url",
        &dev.url,
    ]);
    let (token, url) = (&lines[0], &lines[1]);
    assert_eq!(url, &format!("{}/?token={token}", dev.url));
    let mut alice = Client::connect(url).await;
    let mut bob = Client::connect(&format!(
        "{}/?token={}",
        dev.url,
        mb_token(&["--secret-file", secret_path, "--sub", "bob"])[0]
    ))
    .await;
    alice.send_text("hello").await;
    assert_eq!(alice.recv_json().await["_me"], true);
    assert_eq!(bob.recv_json().await["data"], "hello");

    // No log line, at the most verbose level, holds a token.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for line in dev.stdout().iter().chain(dev.stderr().iter()) {
        for secret in [token.as_str(), expired.as_str(), forged.as_str(), SECRET] {
            assert!(!line.contains(secret), "a token in the log: {line}");
        }
    }
    assert!(
        dev.log_line(&["authorizer", "deny", "expired"], Duration::from_secs(5))
            .await
            .is_some(),
        "a denial is logged with its reason"
    );
    let _ = std::fs::remove_file(secret);
}

#[tokio::test]
async fn a_tokens_channels_are_the_only_ones_it_can_use() {
    let secret = file("channels", SECRET);
    let secret_path = secret.to_str().unwrap();
    let dev = DevServer::start(&["--auth-secret-file", secret_path]);
    let only_a = &mb_token(&["--secret-file", secret_path, "--channel", "a"])[0];
    let any = &mb_token(&["--secret-file", secret_path])[0];

    let (status, body) = Client::refused(&format!("{}/?token={only_a}&channel=b", dev.url)).await;
    assert_eq!(status, 403);
    assert!(body.contains("forbidden_channel"), "{body}");

    // Naming no channel joins the token's.
    let mut limited = Client::connect(&format!("{}/?token={only_a}", dev.url)).await;
    let mut other = Client::connect(&format!("{}/?token={any}&channel=a", dev.url)).await;
    other.send_text("in a").await;
    assert_eq!(other.recv_json().await["_me"], true);
    let heard = limited.recv_json().await;
    assert_eq!(
        (&heard["data"], &heard["_channel"]),
        (&"in a".into(), &"a".into())
    );

    limited
        .send_text(r#"{"action":"subscribe","channel":"b"}"#)
        .await;
    let refusal = limited.recv_json().await;
    assert_eq!(refusal["error"], "forbidden_channel");
    limited
        .send_text(r#"{"action":"publish","channel":"a","data":"mine"}"#)
        .await;
    assert_eq!(limited.recv_json().await["data"], "mine");
    assert_eq!(other.recv_json().await["data"], "mine");
    let _ = std::fs::remove_file(secret);
}

#[tokio::test]
async fn only_listed_origins_may_open_a_browser_connection() {
    let dev = DevServer::start(&["--allow-origin", "https://app.example"]);
    let (status, body) =
        Client::refused_with(&dev.url, &[("Origin", "https://evil.example")]).await;
    assert_eq!(status, 403);
    assert!(body.contains("forbidden_origin"), "{body}");
    let mut allowed = Client::connect_with(&dev.url, &[("Origin", "https://app.example")]).await;
    allowed.send_text("hi").await;
    assert_eq!(allowed.recv_json().await["_me"], true);
}

#[tokio::test]
async fn a_connection_over_its_message_limit_is_told_and_nobody_hears_the_excess() {
    const LIMIT: usize = 5;
    let dev = DevServer::start(&["--max-messages-per-second", &LIMIT.to_string()]);
    let mut sender = Client::connect(&dev.url).await;
    let mut listener = Client::connect(&dev.url).await;

    // Three times the limit for two seconds: 30 messages, one every 66 ms.
    let sent = 3 * LIMIT * 2;
    let pace = Duration::from_millis(2000 / sent as u64);
    let sending = async {
        for i in 0..sent {
            sender.send_text(&format!("m{i}")).await;
            tokio::time::sleep(pace).await;
        }
        // Everything the sender gets back: its own copies and the refusals.
        let (mut copies, mut refusals) = (0, 0);
        while copies + refusals < sent {
            match sender.next_within(Duration::from_secs(5)).await {
                Next::Text(text) if text.contains(r#""error":"rate_limited""#) => refusals += 1,
                Next::Text(_) => copies += 1,
                other => panic!("the sender's answers stopped: {other:?}"),
            }
        }
        (copies, refusals)
    };
    let listening = async {
        // What the listener hears, by the second each message reached the backend.
        let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
        while let Next::Text(text) = listener.next_within(Duration::from_secs(3)).await {
            let message: serde_json::Value = serde_json::from_str(&text).unwrap();
            let now = message["_now"].as_i64().unwrap();
            *per_second.entry(now.div_euclid(1000)).or_default() += 1;
        }
        per_second
    };
    let ((copies, refusals), per_second) = tokio::join!(sending, listening);
    let heard: usize = per_second.values().sum();
    assert_eq!(copies + refusals, sent);
    assert_eq!(heard, copies, "the listener heard what the sender saw sent");
    assert!(refusals >= sent - 3 * LIMIT, "{refusals} refused of {sent}");
    assert!(
        per_second.values().all(|n| *n <= LIMIT),
        "at most {LIMIT} a second: {per_second:?}"
    );
    assert!(heard >= LIMIT, "the limit, not a block: {heard} heard");
}

#[test]
fn mb_token_refuses_what_it_cannot_sign() {
    let short = file("short", "too short");
    let out = mb::run(
        &["token", "--secret-file", short.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = mb_tests::text(&out.stderr);
    assert!(err.contains("at least 32"), "{err}");
    let out = mb::run(
        &[
            "token",
            "--secret-file",
            short.to_str().unwrap(),
            "--channel",
            "a b",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(mb_tests::text(&out.stderr).contains("may use only"));
    let _ = std::fs::remove_file(short);
}

#[tokio::test]
async fn mb_dev_checks_an_issuers_tokens_against_a_local_key_set() {
    let issuer = mb_tests::issuer::Issuer::new("k1");
    let jwks = file("jwks.json", &issuer.jwks());
    let dev = DevServer::start(&[
        "--jwks-file",
        jwks.to_str().unwrap(),
        "--issuer",
        "https://idp.example",
        "--audience",
        "app",
    ]);
    let exp = mb_lambda::clock::now_seconds() + 600;
    let claims = |iss: &str, aud: &str| serde_json::json!({"sub": "carol", "exp": exp, "iss": iss, "aud": aud});
    let good = issuer.sign(&claims("https://idp.example", "app"), "k1");
    let mut carol = Client::connect(&format!("{}/?token={good}", dev.url)).await;
    carol.send_text("signed by the issuer").await;
    assert_eq!(carol.recv_json().await["_me"], true);
    for (what, token) in [
        (
            "another issuer",
            issuer.sign(&claims("https://other.example", "app"), "k1"),
        ),
        (
            "another audience",
            issuer.sign(&claims("https://idp.example", "web"), "k1"),
        ),
        (
            "an unknown key",
            issuer.sign(&claims("https://idp.example", "app"), "k9"),
        ),
    ] {
        let (status, _) = Client::refused(&format!("{}/?token={token}", dev.url)).await;
        assert_eq!(status, 403, "{what}");
    }
    let _ = std::fs::remove_file(jwks);
}

/// `--issuer` and `--audience` require the claims: a token that leaves either out is
/// refused (403), HS256 (what `mb token` mints has neither) and RS256 alike.
#[tokio::test]
async fn a_token_without_the_configured_issuer_or_audience_is_refused() {
    let exp = mb_lambda::clock::now_seconds() + 600;
    let issuer = "https://idp.example";
    let full = serde_json::json!({"sub": "dana", "exp": exp, "iss": issuer, "aud": "app"});
    let no_iss = serde_json::json!({"sub": "dana", "exp": exp, "aud": "app"});
    let no_aud = serde_json::json!({"sub": "dana", "exp": exp, "iss": issuer});
    let checked = ["--issuer", issuer, "--audience", "app"];

    let secret = file("claims-secret", SECRET);
    let secret_path = secret.to_str().unwrap();
    let hs256 = |claims: &serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let by_secret =
        DevServer::start(&[&["--auth-secret-file", secret_path][..], &checked].concat());
    let minted = mb_token(&["--secret-file", secret_path, "--sub", "dana"])[0].clone();

    let rsa = mb_tests::issuer::Issuer::rsa("r1");
    let jwks = file("claims-jwks.json", &rsa.jwks());
    let by_key_set =
        DevServer::start(&[&["--jwks-file", jwks.to_str().unwrap()][..], &checked].concat());

    for (kind, dev, good, refused) in [
        (
            "HS256",
            &by_secret,
            hs256(&full),
            [hs256(&no_iss), hs256(&no_aud), minted],
        ),
        (
            "RS256",
            &by_key_set,
            rsa.sign(&full, "r1"),
            [
                rsa.sign(&no_iss, "r1"),
                rsa.sign(&no_aud, "r1"),
                rsa.sign(&serde_json::json!({"exp": exp}), "r1"),
            ],
        ),
    ] {
        let mut dana = Client::connect(&format!("{}/?token={good}", dev.url)).await;
        dana.send_text("with both claims").await;
        assert_eq!(dana.recv_json().await["_me"], true, "{kind}");
        for (what, token) in ["no iss", "no aud", "neither"].iter().zip(refused) {
            let (status, _) = Client::refused(&format!("{}/?token={token}", dev.url)).await;
            assert_eq!(status, 403, "{kind}, {what}");
        }
        for reason in ["no issuer (iss)", "no audience (aud)"] {
            assert!(
                dev.log_line(&["authorizer", "deny", reason], Duration::from_secs(5))
                    .await
                    .is_some(),
                "{kind}: a denial for {reason} is logged"
            );
        }
    }
    let _ = std::fs::remove_file(secret);
    let _ = std::fs::remove_file(jwks);
}

/// A key set may sign for other applications too: `mb dev --jwks-file` without
/// `--issuer` is a usage error that names the fix.
#[test]
fn mb_dev_refuses_a_key_set_without_an_issuer() {
    let issuer = mb_tests::issuer::Issuer::new("k1");
    let jwks = file("no-issuer.json", &issuer.jwks());
    let out = mb::run(
        &["dev", "--port", "0", "--jwks-file", jwks.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        mb_tests::text(&out.stderr)
    );
    let err = mb_tests::text(&out.stderr);
    assert!(err.contains("add --issuer"), "{err}");
    let _ = std::fs::remove_file(jwks);
}

/// `mb dev --jwks-file` reads its file again when a token names a key the file lacked: a
/// key rotated in is tried locally as on AWS.
#[tokio::test]
async fn mb_dev_reads_its_key_set_file_again_for_a_new_key() {
    let (old, new) = (
        mb_tests::issuer::Issuer::new("k-old"),
        mb_tests::issuer::Issuer::new("k-new"),
    );
    let jwks = file("rotating.json", &old.jwks());
    let dev = DevServer::start(&[
        "--jwks-file",
        jwks.to_str().unwrap(),
        "--issuer",
        "https://idp.example",
    ]);
    let claims = serde_json::json!({"exp": mb_lambda::clock::now_seconds() + 600, "iss": "https://idp.example"});
    let mut before = Client::connect(&format!(
        "{}/?token={}",
        dev.url,
        old.sign(&claims, "k-old")
    ))
    .await;
    std::fs::write(
        &jwks,
        serde_json::json!({"keys": [old.jwk(), new.jwk()]}).to_string(),
    )
    .expect("rotate the key set file");
    let mut after = Client::connect(&format!(
        "{}/?token={}",
        dev.url,
        new.sign(&claims, "k-new")
    ))
    .await;
    after.send_text("signed with the new key").await;
    assert_eq!(after.recv_json().await["_me"], true);
    assert_eq!(before.recv_json().await["data"], "signed with the new key");
    let _ = std::fs::remove_file(jwks);
}
