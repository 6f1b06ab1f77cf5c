//! The JavaScript client (`mb.js`, dependency-free, embedded with `include_str!`): it
//! connects, reconnects with jittered backoff, resumes every channel from its last
//! position and delivers copies in `_seq` order, each once (docs/protocol.md, "History
//! and resume"). `mb dev` and `mb console` serve it on their own origin:
//!
//! - [`MODULE_PATH`] (`/mb.js`): the ES module, for `<script type="module">` and
//!   `import { connect } from "http://127.0.0.1:8080/mb.js"`;
//! - [`NODE_MODULE_PATH`] (`/mb.mjs`): the same bytes under the name Node treats as a
//!   module without a `package.json` (`curl -o mb.mjs ...`);
//! - [`GLOBAL_PATH`] (`/mb.global.js`): a classic script derived from it mechanically
//!   ([`classic`]), which sets `globalThis.mb`. The console page inlines this form.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The client's source: an ES module whose last statement is [`EXPORTS`].
pub const MODULE: &str = include_str!("mb.js");

pub const MODULE_PATH: &str = "/mb.js";
pub const NODE_MODULE_PATH: &str = "/mb.mjs";
pub const GLOBAL_PATH: &str = "/mb.global.js";

/// The module's one export statement, which [`classic`] turns into `globalThis.mb`.
const EXPORTS: &str = "export { connect, backoffDelay, version };";

/// The classic-script form (pure): the module's body in a function scope, its export
/// statement replaced by `globalThis.mb = { ... }`. The module has no `import` and no
/// other `export`, which the tests check, so nothing else changes.
pub fn classic() -> String {
    let names = EXPORTS
        .trim_start_matches("export {")
        .trim_end_matches("};")
        .trim();
    let body = MODULE.replacen(EXPORTS, &format!("globalThis.mb = {{ {names} }};"), 1);
    format!("(function () {{\n\"use strict\";\n{body}}})();\n")
}

/// The routes serving the client, for any router (they need no state).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(MODULE_PATH, get(|| async { script(MODULE.to_owned()) }))
        .route(
            NODE_MODULE_PATH,
            get(|| async { script(MODULE.to_owned()) }),
        )
        .route(GLOBAL_PATH, get(|| async { script(classic()) }))
}

/// A script's HTTP answer: JavaScript, revalidated on every load (a restarted server
/// may be a newer `mb`), and loadable from any origin (a module script is fetched with
/// CORS; the file is public).
fn script(body: String) -> Response {
    let mut answer = (StatusCode::OK, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_has_one_export_statement_and_no_import() {
        assert_eq!(MODULE.matches(EXPORTS).count(), 1);
        let exports = MODULE
            .lines()
            .filter(|l| l.trim_start().starts_with("export "))
            .count();
        assert_eq!(exports, 1, "only the EXPORTS line exports");
        assert!(
            !MODULE
                .lines()
                .any(|l| l.trim_start().starts_with("import "))
        );
    }

    #[test]
    fn the_classic_form_sets_a_global_and_exports_nothing() {
        let classic = classic();
        assert!(classic.contains("globalThis.mb = { connect, backoffDelay, version };"));
        assert!(
            !classic
                .lines()
                .any(|l| l.trim_start().starts_with("export "))
        );
        // The console inlines it in a <script> element.
        assert!(!classic.to_ascii_lowercase().contains("</script"));
        assert!(!classic.contains("<!--"));
    }
}
