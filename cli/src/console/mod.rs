//! The browser console: one static page (`console.html`, its script and style inline,
//! embedded in the binary; no CDN, no framework, no build step) that connects to a
//! WebSocket endpoint and shows what it receives. `mb dev` serves it on a plain `GET /`
//! and `mb console` serves it on loopback for a deployed stack. The page learns where to
//! connect and what the server offers from [`Config`], written into the page as a JSON
//! block with every `<`, `>` and `&` escaped, so no value can end the script element.

pub mod client;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The page, with [`PLACEHOLDER`] where its configuration goes.
const PAGE: &str = include_str!("console.html");

/// Stands in the page for the configuration JSON.
const PLACEHOLDER: &str = "__MB_CONFIG__";

/// Stands in the page's script for the client, inlined in its classic form
/// ([`client::classic`]), so the page stays one file its content policy lets run.
const CLIENT_PLACEHOLDER: &str = "/*__MB_CLIENT__*/";

/// What the page needs to know about the endpoint it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The WebSocket URL to connect to; `None`: the server that served the page
    /// (`ws://` + the page's own host), as under `mb dev`.
    pub url: Option<String>,
    /// What the page is a console of, for its header (`mb dev`, `service chat, stage dev`).
    pub label: String,
    /// Whether the server takes `POST /publish` on the page's own origin (`mb dev`).
    pub publish: bool,
    /// Whether a connection needs `?token=`.
    pub token_required: bool,
    /// Where to get a token, shown when one is required.
    pub token_hint: String,
}

impl Config {
    /// `mb dev`'s: the page's own server, with its publish endpoint.
    pub fn dev(token_required: bool) -> Config {
        Config {
            url: None,
            label: "mb dev".to_owned(),
            publish: true,
            token_required,
            token_hint: "`mb token --secret-file FILE` prints one, FILE being the secret \
                         `mb dev --auth-secret-file` was given (with --jwks-file, use a \
                         token from your issuer)."
                .to_owned(),
        }
    }
}

/// The page with `config` in it (pure).
pub fn page(config: &Config) -> String {
    // The client first: the configuration's values are not searched for placeholders.
    PAGE.replacen(CLIENT_PLACEHOLDER, &client::classic(), 1)
        .replacen(PLACEHOLDER, &script_json(config), 1)
}

/// `value` as JSON that is safe inside a `<script>` element: `<`, `>` and `&` (and the
/// two line separators older parsers choke on) as `\u` escapes, which JSON reads back as
/// the same characters. They can only occur inside strings, where the escape is valid.
fn script_json(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The HTTP answer carrying the page: HTML, never cached (the port may serve another
/// endpoint's console next time), and a content policy that lets the page load nothing
/// from elsewhere, run only its own inline script and style, and connect only to
/// WebSocket endpoints and its own origin (`POST /publish`).
pub fn response(config: &Config) -> Response {
    let mut answer = (StatusCode::OK, page(config)).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    answer
}

/// The warning for an origin allowlist that leaves out the console's own origin (pure):
/// a browser sends `Origin: http://127.0.0.1:PORT` with the page's handshakes, so such a
/// deployment refuses them (403). `None` when the list is empty (any origin) or has it.
pub fn origin_warning(allowed: &[String], console: &str) -> Option<String> {
    if mb_lambda::access::origin::allowed(Some(console), allowed) {
        return None;
    }
    Some(format!(
        "warning: the allowed origins ({}) do not include the console's, {console}: the \
         endpoint will refuse the page's connections (403). Add it with --allow-origin \
         {console}, or use a listed origin's own page",
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(label: &str) -> Config {
        Config {
            url: Some("wss://abc.execute-api.eu-west-1.amazonaws.com/dev".to_owned()),
            label: label.to_owned(),
            publish: false,
            token_required: true,
            token_hint: "`mb token --service chat` prints one".to_owned(),
        }
    }

    /// The JSON block of a page, as the page's script reads it.
    fn block(page: &str) -> &str {
        let start = page
            .find(r#"<script type="application/json" id="mb-config">"#)
            .expect("the config block")
            + r#"<script type="application/json" id="mb-config">"#.len();
        let end = start + page[start..].find("</script>").expect("its end");
        &page[start..end]
    }

    #[test]
    fn the_page_carries_its_config_as_json() {
        let page = page(&config("service chat, stage dev"));
        assert!(page.starts_with("<!doctype html>"));
        assert!(!page.contains(PLACEHOLDER));
        let value: serde_json::Value = serde_json::from_str(block(&page)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "url": "wss://abc.execute-api.eu-west-1.amazonaws.com/dev",
                "label": "service chat, stage dev",
                "publish": false,
                "tokenRequired": true,
                "tokenHint": "`mb token --service chat` prints one",
            })
        );
        let dev: serde_json::Value =
            serde_json::from_str(block(&super::page(&Config::dev(false)))).unwrap();
        assert_eq!(dev["url"], serde_json::Value::Null);
        assert_eq!(dev["publish"], true);
    }

    #[test]
    fn no_value_can_close_the_script_element() {
        let hostile = "</script><script>alert(1)</script> & \u{2028}";
        let page = page(&config(hostile));
        let json = block(&page);
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["label"], hostile);
        // Exactly the page's own scripts, the client inlined in the second.
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(!page.contains(CLIENT_PLACEHOLDER));
        assert!(page.contains("globalThis.mb = {"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for outside in ["http://", "https://", "//cdn", "src=", "@import"] {
            assert!(!PAGE.contains(outside), "the page refers to {outside}");
        }
        let answer = response(&Config::dev(false));
        assert_eq!(
            answer.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(
            answer.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
    }

    #[test]
    fn an_allowlist_without_the_console_is_warned_about() {
        let console = "http://127.0.0.1:8081";
        assert_eq!(origin_warning(&[], console), None);
        assert_eq!(
            origin_warning(&["http://127.0.0.1:8081".to_owned()], console),
            None
        );
        let warning =
            origin_warning(&["https://app.example".to_owned()], console).expect("a warning");
        assert!(
            warning.starts_with(
                "warning: the allowed origins (https://app.example) do not include the \
                 console's, http://127.0.0.1:8081"
            ),
            "{warning}"
        );
        assert!(warning.contains("--allow-origin http://127.0.0.1:8081"));
    }
}
