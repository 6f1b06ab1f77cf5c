//! `mb publish`: a backend's message to a channel (or the default room), as if from no
//! client.
//!
//! 1. Check the channel name and read the message (the argument, or standard input for
//!    `-` or when none is given and standard input is not a terminal).
//! 2. Find the endpoint: `--url`, else the stack's `PublishUrl` output (the function URL).
//! 3. `POST {endpoint}?channel=NAME` with the message as the body; an https endpoint is
//!    signed with SigV4 (service `lambda`, the caller's credentials), a loopback `http://`
//!    one (`mb dev`'s `/publish`) is sent unsigned.
//! 4. Print the counts the endpoint answers, or its JSON with `--json`. With
//!    `--idempotency-key`, a repeat within the dedupe window reaches nobody and is
//!    answered with the first publish's counts.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use clap::Args;
use mb_lambda::wire::channel::Channel;
use serde_json::Value;

use crate::aws::AwsArgs;
use crate::commands::service::{self, ServiceArgs};
use crate::error::Failure;
use crate::ui::Ui;

/// The stack output holding the function URL.
pub const OUTPUT: &str = "PublishUrl";
/// The SigV4 service name of a Lambda function URL.
const SERVICE: &str = "lambda";
/// The whole exchange, connect to last byte: a publish waits for its fan-out.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The channel to publish to (default: the default room, clients that named none)
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Post to this endpoint instead of the stack's: `mb dev`'s
    /// `http://127.0.0.1:PORT[/publish]` (unsigned), or an https function URL (signed)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Print the endpoint's JSON answer instead of a sentence
    #[arg(long)]
    pub json: bool,
    /// Publish at most once per KEY within the dedupe window (a day by default): a repeat
    /// (a retry after a timeout) reaches nobody and is answered with the first's counts
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// The message (text, or JSON sent as application/json); `-` or none: standard input
    #[arg(value_name = "MESSAGE")]
    pub message: Option<String>,
}

/// Where a publish goes, and whether it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Without the query.
    pub url: String,
    pub signed: bool,
}

pub async fn run(args: &PublishArgs, ui: &Ui) -> Result<(), Failure> {
    let channel = match &args.channel {
        Some(name) => Some(Channel::parse(name).map_err(|e| Failure::usage(e.to_string()))?),
        None => None,
    };
    if let Some(key) = &args.idempotency_key
        && mb_lambda::wire::bus::checked_key(key).is_none()
    {
        return Err(Failure::usage(format!(
            "--idempotency-key must be 1 to {} characters without control characters",
            mb_lambda::wire::bus::MAX_ID
        )));
    }
    let message = message(args.message.as_deref())?;
    let (endpoint, aws) = match &args.url {
        Some(url) => {
            let endpoint = endpoint(url).map_err(Failure::usage)?;
            let aws = if endpoint.signed {
                Some(crate::aws::Aws::load(&args.aws).await?)
            } else {
                None
            };
            (endpoint, aws)
        }
        None => {
            let (names, aws, stack) = service::deployed(&args.service, &args.aws, ui).await?;
            let Some(url) = stack.output(OUTPUT) else {
                return Err(Failure::new(format!(
                    "stack {} has no {OUTPUT} output: it was deployed by an mb without \
                     publishing; run `mb deploy --service {} --stage {}` to add the endpoint",
                    names.stack, names.service, names.stage
                )));
            };
            let endpoint = endpoint(url).map_err(Failure::new)?;
            (endpoint, Some(aws))
        }
    };
    let mut request = request(
        &endpoint,
        channel.as_ref(),
        args.idempotency_key.as_deref(),
        message,
    )?;
    if endpoint.signed {
        let Some(aws) = aws else {
            return Err(Failure::new(
                "no AWS configuration to sign the request with",
            ));
        };
        let credentials = aws.credentials().await?;
        let region = region_of(&endpoint.url).unwrap_or_else(|| aws.region().to_owned());
        sign_request(&mut request, &credentials, &region, SystemTime::now())
            .map_err(|e| Failure::new(format!("cannot sign the request: {e}")))?;
    }
    let (status, body) = send(request).await?;
    let answer = answer(status, &body, channel.as_ref(), endpoint.signed)?;
    let text = if args.json {
        format!("{}\n", String::from_utf8_lossy(&body).trim_end())
    } else {
        format!("{answer}\n")
    };
    crate::ui::print(&text)
}

/// The message: `given`, or standard input for `-` (or no argument when standard input is
/// not a terminal). No message, or an empty one, is a usage error.
fn message(given: Option<&str>) -> Result<Vec<u8>, Failure> {
    let bytes = match given {
        Some("-") => stdin()?,
        Some(text) => text.as_bytes().to_vec(),
        None if !std::io::stdin().is_terminal() => stdin()?,
        None => {
            return Err(Failure::usage(
                "no message: pass it as an argument, or `-` to read it from standard input",
            ));
        }
    };
    if bytes.is_empty() {
        return Err(Failure::usage(
            "the message is empty: there is nothing to publish",
        ));
    }
    Ok(bytes)
}

fn stdin() -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(format!("cannot read the message from standard input: {e}")))?;
    Ok(bytes)
}

/// The endpoint a URL names (pure): https is signed; plain http only to this machine
/// (`mb dev`), unsigned, with `/publish` added when the URL has no path.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("`{url}` is not a URL: pass https://... or http://127.0.0.1:PORT"))?;
    let host = uri.host().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    if uri.query().is_some() {
        return Err(format!(
            "`{url}` has a query: pass the channel with --channel instead"
        ));
    }
    match uri.scheme_str() {
        Some("https") => Ok(Endpoint {
            url: url.to_owned(),
            signed: true,
        }),
        Some("http") if is_loopback(host) => {
            let base = url.trim_end_matches('/');
            let url = if matches!(uri.path(), "" | "/") {
                format!("{base}/publish")
            } else {
                url.to_owned()
            };
            Ok(Endpoint { url, signed: false })
        }
        Some("http") => Err(format!(
            "`{url}` is plain http to another machine: mb sends unsigned requests only to \
             127.0.0.1 or localhost (`mb dev`); use the https endpoint"
        )),
        _ => Err(format!(
            "`{url}` is neither https:// nor http://127.0.0.1 (or localhost)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The region of a function URL, `https://<id>.lambda-url.<region>.on.aws/` (pure).
pub fn region_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    let (_, rest) = host.split_once(".lambda-url.")?;
    let (region, _) = rest.split_once('.')?;
    (!region.is_empty()).then(|| region.to_owned())
}

/// The URL with the channel as its query (pure): none for the default room.
pub fn with_channel(url: &str, channel: Option<&Channel>) -> String {
    match channel {
        None => url.to_owned(),
        Some(channel) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("channel", channel.as_str())
                .finish();
            let base = if url.contains("://") && url.matches('/').count() == 2 {
                format!("{url}/")
            } else {
                url.to_owned()
            };
            format!("{base}?{query}")
        }
    }
}

/// `application/json` for a message that is JSON, else `text/plain` (pure).
pub fn content_type(message: &[u8]) -> &'static str {
    if serde_json::from_slice::<serde::de::IgnoredAny>(message).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// The POST, unsigned.
fn request(
    endpoint: &Endpoint,
    channel: Option<&Channel>,
    idempotency_key: Option<&str>,
    message: Vec<u8>,
) -> Result<http::Request<Vec<u8>>, Failure> {
    let url = with_channel(&endpoint.url, channel);
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Failure::new(format!("`{url}` is not a URL")))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", host)
        .header("content-type", content_type(&message));
    if let Some(key) = idempotency_key {
        builder = builder.header("idempotency-key", key);
    }
    builder
        .body(message)
        .map_err(|e| Failure::new(format!("cannot build the request to {url}: {e}")))
}

/// Signs `request` in place with SigV4 for a Lambda function URL in `region`: the
/// `authorization`, `x-amz-date`, `x-amz-content-sha256` and (with a session token)
/// `x-amz-security-token` headers.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), String> {
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// Sends the request over mb's rustls client: the status and the whole body.
async fn send(request: http::Request<Vec<u8>>) -> Result<(u16, Vec<u8>), Failure> {
    mb_lambda::aws::exchange(request, None, TIMEOUT)
        .await
        .map_err(Failure::new)
}

/// The sentence for an answer (pure): the counts of a 2xx, else a failure naming the
/// status and the endpoint's reason.
pub fn answer(
    status: u16,
    body: &[u8],
    channel: Option<&Channel>,
    signed: bool,
) -> Result<String, Failure> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let reason = json
            .as_ref()
            .and_then(|j| {
                ["error", "reason", "Message", "message"]
                    .iter()
                    .find_map(|k| j.get(*k).and_then(Value::as_str))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(body)
                    .trim()
                    .chars()
                    .take(300)
                    .collect()
            });
        let reason = if reason.is_empty() {
            "no reason given".to_owned()
        } else {
            reason
        };
        let hint = if status == 403 && signed {
            ": the caller lacks lambda:InvokeFunctionUrl or lambda:InvokeFunction on the \
             function (docs/deploy.md, \"Publishing from a backend\")"
        } else {
            ""
        };
        return Err(Failure::new(format!(
            "the publish endpoint answered {status}: {}{hint}",
            reason.trim_end_matches('.')
        )));
    }
    let count = |key: &str| {
        json.as_ref()
            .and_then(|j| j.get(key))
            .and_then(Value::as_u64)
    };
    let (Some(recipients), Some(delivered), Some(gone), Some(failed)) = (
        count("recipients"),
        count("delivered"),
        count("gone"),
        count("failed"),
    ) else {
        return Err(Failure::new(format!(
            "the publish endpoint answered {status} without the counts: {}",
            String::from_utf8_lossy(body).trim()
        )));
    };
    let target = match channel {
        Some(channel) => format!("channel {channel}"),
        None => "the default room".to_owned(),
    };
    if json.as_ref().and_then(|j| j.get("duplicate")) == Some(&Value::Bool(true)) {
        return Ok(format!(
            "a repeat of an earlier publish with this idempotency key: nobody got it again \
             (the first, to {target}, had {recipients} recipient{}, {delivered} delivered)",
            if recipients == 1 { "" } else { "s" }
        ));
    }
    Ok(format!(
        "published to {target}: {recipients} recipient{}, {delivered} delivered, {gone} gone, \
         {failed} failed",
        if recipients == 1 { "" } else { "s" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn channel(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    #[test]
    fn https_is_signed_and_only_loopback_http_goes_unsigned() {
        let signed = |url: &str| endpoint(url).map(|e| e.signed);
        assert_eq!(signed("https://abc.lambda-url.eu-west-1.on.aws/"), Ok(true));
        assert_eq!(signed("https://example.com/publish"), Ok(true));
        assert_eq!(
            endpoint("http://127.0.0.1:8080").unwrap(),
            Endpoint {
                url: "http://127.0.0.1:8080/publish".into(),
                signed: false
            }
        );
        assert_eq!(
            endpoint("http://localhost:8080/").unwrap().url,
            "http://localhost:8080/publish"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/publish").unwrap().url,
            "http://127.0.0.1:8080/publish"
        );
        assert_eq!(
            endpoint("http://[::1]:9/").unwrap().url,
            "http://[::1]:9/publish"
        );
        for bad in [
            "http://example.com/publish",
            "http://10.0.0.1:8080",
            "ftp://127.0.0.1/",
            "127.0.0.1:8080",
            "https://x.on.aws/?channel=a",
            "not a url",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
        assert!(
            endpoint("http://example.com")
                .unwrap_err()
                .contains("127.0.0.1"),
            "says what is allowed"
        );
    }

    #[test]
    fn the_region_comes_from_a_function_url() {
        assert_eq!(
            region_of("https://abc123.lambda-url.eu-west-1.on.aws/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("https://example.com/"), None);
    }

    #[test]
    fn the_channel_is_the_query_and_none_is_the_default_room() {
        assert_eq!(
            with_channel("https://a.lambda-url.us-east-1.on.aws/", None),
            "https://a.lambda-url.us-east-1.on.aws/"
        );
        assert_eq!(
            with_channel(
                "https://a.lambda-url.us-east-1.on.aws/",
                Some(&channel("a"))
            ),
            "https://a.lambda-url.us-east-1.on.aws/?channel=a"
        );
        // moto's function URLs have no trailing slash.
        assert_eq!(
            with_channel("https://a.lambda-url.us-east-1.on.aws", Some(&channel("b"))),
            "https://a.lambda-url.us-east-1.on.aws/?channel=b"
        );
        assert_eq!(
            with_channel("http://127.0.0.1:1/publish", Some(&channel("o:1@x"))),
            "http://127.0.0.1:1/publish?channel=o%3A1%40x"
        );
    }

    #[test]
    fn json_messages_say_so() {
        assert_eq!(content_type(br#"{"a":1}"#), "application/json");
        assert_eq!(content_type(b"[1, 2]"), "application/json");
        assert_eq!(content_type(b"hello"), "text/plain; charset=utf-8");
        assert_eq!(content_type(b"{not json"), "text/plain; charset=utf-8");
    }

    #[test]
    fn answers_become_one_sentence() {
        let counts = br#"{"recipients":2,"delivered":2,"gone":0,"failed":0}"#;
        assert_eq!(
            answer(200, counts, Some(&channel("a")), true).unwrap(),
            "published to channel a: 2 recipients, 2 delivered, 0 gone, 0 failed"
        );
        assert_eq!(
            answer(
                200,
                br#"{"recipients":1,"delivered":0,"gone":1,"failed":0}"#,
                None,
                false
            )
            .unwrap(),
            "published to the default room: 1 recipient, 0 delivered, 1 gone, 0 failed"
        );
        let denied = answer(403, br#"{"Message":"Forbidden"}"#, None, true).unwrap_err();
        assert_eq!(denied.exit_code(), 1);
        let denied = denied.to_string();
        assert!(denied.contains("403: Forbidden"), "{denied}");
        assert!(
            denied.contains("lambda:InvokeFunctionUrl") && denied.contains("lambda:InvokeFunction"),
            "{denied}"
        );
        let refused = answer(
            400,
            br#"{"error":"bad channel name \"a b\"."}"#,
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            refused,
            "the publish endpoint answered 400: bad channel name \"a b\""
        );
        let plain = answer(502, b"Bad Gateway", None, false).unwrap_err();
        assert!(plain.to_string().contains("502: Bad Gateway"), "{plain}");
        assert!(answer(200, b"ok", None, false).is_err(), "no counts");
    }

    /// 2026-11-22T10:00:00Z.
    fn fixed_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_341_600)
    }

    fn signed_request(token: Option<&str>) -> http::Request<Vec<u8>> {
        let endpoint = endpoint("https://abc123.lambda-url.eu-west-1.on.aws/").unwrap();
        let mut request = request(&endpoint, Some(&channel("a")), None, b"hello".to_vec()).unwrap();
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        );
        sign_request(&mut request, &credentials, "eu-west-1", fixed_time()).unwrap();
        request
    }

    fn header<'a>(request: &'a http::Request<Vec<u8>>, name: &str) -> &'a str {
        request.headers()[name].to_str().unwrap()
    }

    /// The signature is checked against one computed here from the canonical request
    /// written out by hand (SigV4's documented steps), with only the HMAC key derivation
    /// and the HMAC from aws-sigv4's primitives: a second code path to the same bytes.
    #[test]
    fn the_signature_is_sigv4_for_lambda_over_the_whole_request() {
        let request = signed_request(None);
        let authorization = header(&request, "authorization");
        let payload = hex::encode(Sha256::digest(b"hello"));
        assert_eq!(header(&request, "x-amz-date"), "20261122T100000Z");
        assert_eq!(header(&request, "x-amz-content-sha256"), payload);
        let signed_headers = "content-type;host;x-amz-content-sha256;x-amz-date";
        let prefix = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-west-1/lambda/aws4_request, \
             SignedHeaders={signed_headers}, Signature="
        );
        let signature = authorization
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{authorization}"));
        assert_eq!(signature.len(), 64);

        let canonical = format!(
            "POST\n/\nchannel=a\ncontent-type:text/plain; charset=utf-8\n\
             host:abc123.lambda-url.eu-west-1.on.aws\nx-amz-content-sha256:{payload}\n\
             x-amz-date:20261122T100000Z\n\n{signed_headers}\n{payload}"
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n20261122T100000Z\n20261122/eu-west-1/lambda/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = v4::generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            fixed_time(),
            "eu-west-1",
            "lambda",
        );
        assert_eq!(
            signature,
            v4::calculate_signature(key, string_to_sign.as_bytes())
        );
        // The body and the channel are part of it: another body, another signature.
        let endpoint = endpoint("https://abc123.lambda-url.eu-west-1.on.aws/").unwrap();
        let mut other = request_for(&endpoint, "b", b"hello");
        sign_fixed(&mut other);
        assert_ne!(header(&other, "authorization"), authorization);
        let mut other = request_for(&endpoint, "a", b"hellO");
        sign_fixed(&mut other);
        assert_ne!(header(&other, "authorization"), authorization);
    }

    fn request_for(endpoint: &Endpoint, name: &str, body: &[u8]) -> http::Request<Vec<u8>> {
        request(endpoint, Some(&channel(name)), None, body.to_vec()).unwrap()
    }

    fn sign_fixed(request: &mut http::Request<Vec<u8>>) {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        sign_request(request, &credentials, "eu-west-1", fixed_time()).unwrap();
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let request = signed_request(Some("TOKEN"));
        assert_eq!(header(&request, "x-amz-security-token"), "TOKEN");
        assert!(
            header(&request, "authorization").contains(
                "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
            ),
            "{}",
            header(&request, "authorization")
        );
    }
}
