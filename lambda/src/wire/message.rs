//! Shapes one incoming frame into the JSON every recipient receives (pure).
//!
//! The wire format is inherited from the TypeScript backend `mb` replaces (see
//! `docs/protocol.md`): a JSON object gets `_now` and `_me` added, anything else is
//! wrapped as `{"data": ...}`. Unlike that backend, arrays, `null` and empty frames are
//! wrapped instead of lost, and numbers keep their exact text (no `f64` round trip), so
//! values are carried as raw JSON text and only the top-level object is rebuilt.

use std::borrow::Cow;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use indexmap::IndexMap;
use serde_json::value::RawValue;

use crate::wire::error::ErrorFrame;

/// API Gateway's WebSocket message payload quota (128 KB). A delivered copy larger than
/// this is refused by the Management API, so it is never broadcast.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// The message-format table (docs/protocol.md): what a client sends, and the sender's
/// copy with `N` standing for `_now`; every other copy has `"_me":false`. Checked by this
/// module's unit tests and, over real WebSockets, by the end-to-end tests.
pub const FORMAT_TABLE: &[(&str, &str)] = &[
    ("hi there", r#"{"data":"hi there","_now":N,"_me":true}"#),
    (
        r#"{"type":"act","payload":"left"}"#,
        r#"{"type":"act","payload":"left","_now":N,"_me":true}"#,
    ),
    (
        r#"{"_me":"x","_now":0,"a":1}"#,
        r#"{"a":1,"_now":N,"_me":true}"#,
    ),
    ("{}", r#"{"_now":N,"_me":true}"#),
    (r#""hi""#, r#"{"data":"hi","_now":N,"_me":true}"#),
    ("42", r#"{"data":42,"_now":N,"_me":true}"#),
    ("true", r#"{"data":true,"_now":N,"_me":true}"#),
    (r#"{"a":1"#, r#"{"data":"{\"a\":1","_now":N,"_me":true}"#),
    ("[1,2,3]", r#"{"data":[1,2,3],"_now":N,"_me":true}"#),
    ("[]", r#"{"data":[],"_now":N,"_me":true}"#),
    ("null", r#"{"data":null,"_now":N,"_me":true}"#),
    (
        "12345678901234567890",
        r#"{"data":12345678901234567890,"_now":N,"_me":true}"#,
    ),
    (r#"{"m":1e400}"#, r#"{"m":1e400,"_now":N,"_me":true}"#),
    ("", r#"{"data":"","_now":N,"_me":true}"#),
];

/// The two copies of one message: the sender's (`"_me":true`) and everyone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    pub for_sender: Bytes,
    pub for_others: Bytes,
}

impl Shaped {
    /// The larger of the two copies, the one that must fit [`MAX_MESSAGE_BYTES`].
    pub fn delivered_size(&self) -> usize {
        self.for_sender.len().max(self.for_others.len())
    }

    /// The copy for `recipient`, given the sender's connection id.
    pub fn copy_for(&self, recipient: &str, sender: &str) -> Bytes {
        if recipient == sender {
            self.for_sender.clone()
        } else {
            self.for_others.clone()
        }
    }
}

/// Shapes `frame` (the text a client sent) with `now_ms`, the unix time in milliseconds at
/// which it reached the backend: the default room's messages.
pub fn shape(frame: &str, now_ms: i64) -> Shaped {
    shape_in(frame, now_ms, None)
}

/// [`shape`] for a message delivered through `channel`: the copies also carry
/// `"_channel":NAME` (after `_now`), and a `_channel` field the sender wrote is dropped,
/// as `_now` and `_me` are. Without a channel, exactly [`shape`]'s bytes.
pub fn shape_in(frame: &str, now_ms: i64, channel: Option<&str>) -> Shaped {
    let mut prefix = String::with_capacity(frame.len() + 48);
    prefix.push('{');
    let reserved = |k: &str| k == "_me" || k == "_now" || (channel.is_some() && k == "_channel");
    match parse_object(frame) {
        Some(fields) => {
            for (key, value) in fields.iter().filter(|(k, _)| !reserved(k)) {
                push_json_string(&mut prefix, key);
                prefix.push(':');
                push_compact(&mut prefix, value.get());
                prefix.push(',');
            }
        }
        None => {
            prefix.push_str("\"data\":");
            match serde_json::from_str::<&RawValue>(frame) {
                Ok(value) => push_compact(&mut prefix, value.get()),
                Err(_) => push_json_string(&mut prefix, frame),
            }
            prefix.push(',');
        }
    }
    prefix.push_str("\"_now\":");
    prefix.push_str(&now_ms.to_string());
    if let Some(channel) = channel {
        prefix.push_str(",\"_channel\":");
        push_json_string(&mut prefix, channel);
    }
    prefix.push_str(",\"_me\":");

    let mut for_others = String::with_capacity(prefix.len() + 6);
    for_others.push_str(&prefix);
    for_others.push_str("false}");
    prefix.push_str("true}");
    Shaped {
        for_sender: Bytes::from(prefix),
        for_others: Bytes::from(for_others),
    }
}

/// A JSON object's fields in their order, values as raw text; a repeated key keeps its
/// first position and its last value, as `JSON.parse` does. `None` when `frame` is not
/// a JSON object.
fn parse_object(frame: &str) -> Option<IndexMap<String, &RawValue>> {
    if !frame.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(frame).ok()
}

fn push_json_string(out: &mut String, s: &str) {
    // Serialising a str into a String cannot fail; the fallback keeps this total anyway.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// Appends `raw` (valid JSON text) without the insignificant white space between tokens,
/// leaving every string and number exactly as written.
fn push_compact(out: &mut String, raw: &str) {
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
}

/// Why a sender's message was not broadcast; sent back to the sender alone as a JSON
/// error frame (`{"error": code, "reason": ..., ...}`, documented in docs/protocol.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The delivered copy would exceed API Gateway's 128 KB message quota.
    TooLarge { size: usize, limit: usize },
    /// A binary frame whose bytes are not UTF-8 text.
    NotText,
    /// The connection table could not be read, so nobody was sent the message.
    StorageUnavailable,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooLarge { .. } => "message_too_large",
            Refusal::NotText => "binary_not_supported",
            Refusal::StorageUnavailable => "storage_unavailable",
        }
    }

    /// The reason, in words, with what to do.
    pub fn reason(&self) -> String {
        match self {
            Refusal::TooLarge { size, limit } => format!(
                "the delivered message would be {size} bytes, over API Gateway's {limit}-byte limit; send less data per message"
            ),
            Refusal::NotText => {
                "binary frames must hold UTF-8 text; send text frames or encode binary data (e.g. base64) inside JSON".to_owned()
            }
            Refusal::StorageUnavailable => {
                "the connection table could not be read, so the message was not broadcast; try again".to_owned()
            }
        }
    }

    /// The error object ([`ErrorFrame`]).
    pub fn error(&self) -> ErrorFrame {
        let error = ErrorFrame::new(self.code(), self.reason());
        match self {
            Refusal::TooLarge { size, limit } => error.with("size", *size).with("limit", *limit),
            _ => error,
        }
    }

    /// The error frame for the sender.
    pub fn frame(&self, now_ms: i64) -> Bytes {
        self.error().frame(now_ms)
    }
}

/// The text of a frame as API Gateway delivers it in the event: `body`, base64-encoded
/// when the client sent a binary frame. Binary frames holding UTF-8 are treated as text;
/// anything else is refused (pure).
pub fn frame_text(body: Option<&str>, is_base64_encoded: bool) -> Result<Cow<'_, str>, Refusal> {
    let body = body.unwrap_or("");
    if !is_base64_encoded {
        return Ok(Cow::Borrowed(body));
    }
    let bytes = BASE64_STANDARD.decode(body).map_err(|_| Refusal::NotText)?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| Refusal::NotText)
}

/// The refusal for a shaped message that is too large to deliver, if any.
pub fn check_size(shaped: &Shaped) -> Result<(), Refusal> {
    let size = shaped.delivered_size();
    if size > MAX_MESSAGE_BYTES {
        Err(Refusal::TooLarge {
            size,
            limit: MAX_MESSAGE_BYTES,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_message_names_its_channel_and_nothing_else_changes() {
        let s = shape_in(r#"{"k":1,"_channel":"forged"}"#, 5, Some("a"));
        assert_eq!(
            s.for_sender,
            Bytes::from_static(br#"{"k":1,"_now":5,"_channel":"a","_me":true}"#)
        );
        assert_eq!(
            s.for_others,
            Bytes::from_static(br#"{"k":1,"_now":5,"_channel":"a","_me":false}"#)
        );
        let s = shape_in("hi", 5, Some("a"));
        assert_eq!(
            s.for_others,
            Bytes::from_static(br#"{"data":"hi","_now":5,"_channel":"a","_me":false}"#)
        );
        // The default room: byte for byte as before, a sender's `_channel` included.
        for (input, _) in FORMAT_TABLE {
            assert_eq!(shape_in(input, 5, None), shape(input, 5), "{input}");
        }
        assert_eq!(
            shape(r#"{"_channel":"x"}"#, 5).for_others,
            Bytes::from_static(br#"{"_channel":"x","_now":5,"_me":false}"#)
        );
    }

    const N: i64 = 1_700_000_000_123;

    fn sender(frame: &str) -> String {
        String::from_utf8(shape(frame, N).for_sender.to_vec()).unwrap()
    }

    fn other(frame: &str) -> String {
        String::from_utf8(shape(frame, N).for_others.to_vec()).unwrap()
    }

    /// Every row of the table in docs/protocol.md.
    #[test]
    fn message_format_table() {
        for (input, expected) in FORMAT_TABLE {
            let expected = expected.replace('N', &N.to_string());
            assert_eq!(sender(input), expected, "sender copy of {input:?}");
            let expected_other = expected.replace(r#""_me":true"#, r#""_me":false"#);
            assert_eq!(other(input), expected_other, "other copy of {input:?}");
            // Every delivered copy is valid JSON.
            serde_json::from_str::<&RawValue>(&expected).unwrap();
        }
    }

    #[test]
    fn output_is_compact_but_strings_keep_their_spaces() {
        assert_eq!(
            sender("{ \"a\" : [ 1 , { \"b\" : \"x y\\\" z\" } ] ,\n \"c\":\t2 }"),
            format!(r#"{{"a":[1,{{"b":"x y\" z"}}],"c":2,"_now":{N},"_me":true}}"#)
        );
        assert_eq!(
            sender("  [1, 2]  "),
            format!(r#"{{"data":[1,2],"_now":{N},"_me":true}}"#)
        );
    }

    #[test]
    fn non_ascii_is_utf8_not_escaped() {
        assert_eq!(
            sender("héllo ✓"),
            format!(r#"{{"data":"héllo ✓","_now":{N},"_me":true}}"#)
        );
        assert_eq!(
            sender(r#"{"name":"zoë"}"#),
            format!(r#"{{"name":"zoë","_now":{N},"_me":true}}"#)
        );
    }

    #[test]
    fn repeated_keys_behave_like_json_parse() {
        assert_eq!(
            sender(r#"{"a":1,"b":2,"a":3}"#),
            format!(r#"{{"a":3,"b":2,"_now":{N},"_me":true}}"#)
        );
    }

    #[test]
    fn whitespace_only_and_plain_text_are_wrapped_as_strings() {
        assert_eq!(
            sender("  "),
            format!(r#"{{"data":"  ","_now":{N},"_me":true}}"#)
        );
        assert_eq!(
            sender("{not json}"),
            format!(r#"{{"data":"{{not json}}","_now":{N},"_me":true}}"#)
        );
    }

    #[test]
    fn both_copies_share_one_now() {
        let s = shape("x", 5);
        assert!(s.for_sender.ends_with(br#""_now":5,"_me":true}"#));
        assert!(s.for_others.ends_with(br#""_now":5,"_me":false}"#));
        assert_eq!(s.copy_for("a", "a"), s.for_sender);
        assert_eq!(s.copy_for("b", "a"), s.for_others);
    }

    #[test]
    fn size_limit_counts_the_added_fields() {
        // Fits on its own, but not once "_now" and "_me" are added.
        let overhead = shape("", N).for_others.len();
        let text = "a".repeat(MAX_MESSAGE_BYTES - overhead + 1);
        let shaped = shape(&text, N);
        assert_eq!(shaped.delivered_size(), MAX_MESSAGE_BYTES + 1);
        assert_eq!(
            check_size(&shaped),
            Err(Refusal::TooLarge {
                size: MAX_MESSAGE_BYTES + 1,
                limit: MAX_MESSAGE_BYTES
            })
        );
        let text = "a".repeat(MAX_MESSAGE_BYTES - overhead);
        assert_eq!(check_size(&shape(&text, N)), Ok(()));
    }

    #[test]
    fn binary_frames_holding_utf8_are_text() {
        let encoded = BASE64_STANDARD.encode("héllo");
        assert_eq!(frame_text(Some(&encoded), true).unwrap(), "héllo");
        assert_eq!(frame_text(Some("plain"), false).unwrap(), "plain");
        assert_eq!(frame_text(None, false).unwrap(), "");
    }

    #[test]
    fn binary_frames_that_are_not_utf8_are_refused() {
        let encoded = BASE64_STANDARD.encode([0xff, 0xfe, 0x00]);
        assert_eq!(frame_text(Some(&encoded), true), Err(Refusal::NotText));
        assert_eq!(frame_text(Some("not base64!"), true), Err(Refusal::NotText));
    }

    #[test]
    fn error_frames_are_json_with_a_code_and_reason() {
        let frame: serde_json::Value = serde_json::from_slice(
            &Refusal::TooLarge {
                size: 140_000,
                limit: MAX_MESSAGE_BYTES,
            }
            .frame(N),
        )
        .unwrap();
        assert_eq!(frame["error"], "message_too_large");
        assert_eq!(frame["size"], 140_000);
        assert_eq!(frame["limit"], 131_072);
        assert_eq!(frame["_now"], N);
        assert!(
            frame["reason"]
                .as_str()
                .unwrap()
                .contains("131072-byte limit")
        );
        for refusal in [Refusal::NotText, Refusal::StorageUnavailable] {
            let frame: serde_json::Value = serde_json::from_slice(&refusal.frame(N)).unwrap();
            assert_eq!(frame["error"], refusal.code());
            assert!(!frame["reason"].as_str().unwrap().is_empty());
        }
    }
}
