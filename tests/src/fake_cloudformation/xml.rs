//! The XML side of the query protocol: CloudFormation's answers (`<ActionResponse>` with
//! its `<ActionResult>`), its XML errors (from a [`Fault`]), and the pieces a result is
//! written with (escaped elements, optional elements, lists, key/value lists, timestamps).
//! `fake_iam.rs` writes its answers with [`escape`] and [`xml`] too.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::fault::Fault;

/// The XML namespace of CloudFormation's answers and errors.
pub(super) const NAMESPACE: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// `text` escaped for XML content.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// A timestamp (Unix seconds) as the query protocol writes one: `2026-11-22T10:00:00Z`.
pub(super) fn time(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// `<name>text</name>`, escaped.
pub(super) fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// `<name>text</name>`, or nothing for `None`.
pub(super) fn optional(name: &str, text: Option<&str>) -> String {
    text.map(|t| element(name, t)).unwrap_or_default()
}

/// A list of scalars: `<name><member>a</member>...</name>`.
pub(super) fn list(name: &str, items: &[String]) -> String {
    let members: String = items.iter().map(|i| element("member", i)).collect();
    format!("<{name}>{members}</{name}>")
}

/// A list of key/value structures.
pub(super) fn pair_list(name: &str, key: &str, value: &str, items: &[(String, String)]) -> String {
    let members: String = items
        .iter()
        .map(|(k, v)| format!("<member>{}{}</member>", element(key, k), element(value, v)))
        .collect();
    format!("<{name}>{members}</{name}>")
}

/// A 200 answer to `action`, with its result element unless `result` is `None`.
pub(super) fn ok(action: &str, result: Option<&str>, request_id: &str) -> Response<Full<Bytes>> {
    let result = result
        .map(|r| format!("<{action}Result>{r}</{action}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">{result}<ResponseMetadata>\
         <RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    xml(StatusCode::OK, body, request_id)
}

/// `fault` as an XML error, under a fixed request id (for requests refused before
/// routing).
pub(super) fn error(fault: &Fault) -> Response<Full<Bytes>> {
    error_with_id(fault, "00000000-0000-4000-8000-000000000000")
}

/// `fault` as CloudFormation's XML error answer, with its HTTP status.
pub(super) fn error_with_id(fault: &Fault, request_id: &str) -> Response<Full<Bytes>> {
    let Fault(status, code, message) = fault;
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(message)
    );
    xml(
        StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
        request_id,
    )
}

/// An XML answer with the request id header the SDK reads.
pub(crate) fn xml(status: StatusCode, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("text/xml"));
    if let Ok(id) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}
