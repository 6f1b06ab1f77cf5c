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
use crate::wire::position::Position;

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
    shape_at(frame, now_ms, channel, None)
}

/// The most a position adds to a copy: `,"_seq":` and 2^53's 16 digits, `,"_epoch":` and
/// a quoted epoch of the longest kind [`crate::wire::position::new_epoch`] makes (base 36 of a
/// millisecond, a dash and 8 hex digits).
pub const POSITION_BYTES: usize = 8 + 16 + 10 + 2 + 13 + 1 + 8;

/// [`shape_in`] for a room that keeps history: the copies also carry the message's
/// position, `"_seq":N,"_epoch":"E"` after `_now` and `_channel` (a sender's own `_seq`
/// and `_epoch` are dropped). Without a position, exactly [`shape_in`]'s bytes.
pub fn shape_at(
    frame: &str,
    now_ms: i64,
    channel: Option<&str>,
    position: Option<&Position>,
) -> Shaped {
    let mut prefix = String::with_capacity(frame.len() + 48);
    prefix.push('{');
    let reserved = |k: &str| {
        k == "_me"
            || k == "_now"
            || (channel.is_some() && k == "_channel")
            || (position.is_some() && (k == "_seq" || k == "_epoch"))
    };
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
    if let Some(position) = position {
        prefix.push_str(",\"_seq\":");
        prefix.push_str(&position.seq.to_string());
        prefix.push_str(",\"_epoch\":");
        push_json_string(&mut prefix, &position.epoch);
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
    check_size_with(shaped, 0)
}

/// [`check_size`] for copies that will carry `extra` bytes more (a position not given
/// yet: a message is refused before it takes a number, never after).
pub fn check_size_with(shaped: &Shaped, extra: usize) -> Result<(), Refusal> {
    let size = shaped.delivered_size() + extra;
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

    use crate::wire::position;

    #[test]
    fn a_copy_in_a_room_with_history_carries_its_position_before_me() {
        let at = Position {
            epoch: "e-1".into(),
            seq: 7,
        };
        let s = shape_at(r#"{"k":1,"_seq":99,"_epoch":"x"}"#, 5, Some("a"), Some(&at));
        assert_eq!(
            s.for_others,
            r#"{"k":1,"_now":5,"_channel":"a","_seq":7,"_epoch":"e-1","_me":false}"#
        );
        // Without a position a sender's `_seq` is its own field, as before history.
        let plain = shape_at(r#"{"_seq":99}"#, 5, None, None);
        assert_eq!(plain, shape(r#"{"_seq":99}"#, 5));
        assert_eq!(plain.for_sender, r#"{"_seq":99,"_now":5,"_me":true}"#);
    }

    proptest::proptest! {
        #[test]
        fn a_position_adds_at_most_what_the_size_check_allows(
            now in proptest::num::i64::ANY,
            random: u32,
            seq in 0u64..=position::MAX_SEQ,
            text in ".{0,40}",
        ) {
            let at = Position { epoch: position::new_epoch(now, random), seq };
            let without = shape_in(&text, 1, Some("c"));
            let with = shape_at(&text, 1, Some("c"), Some(&at));
            proptest::prop_assert!(
                with.delivered_size() <= without.delivered_size() + POSITION_BYTES
            );
        }
    }

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

/// Properties of shaping and of frame reading, over generated input: the contract of
/// docs/protocol.md ("Shaping", "Binary frames", "Size limit") for any frame, not only
/// the rows of [`FORMAT_TABLE`]. `PROPTEST_CASES` sets how many cases each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Insignificant white space, as JSON allows it between tokens.
    fn ws() -> impl Strategy<Value = String> {
        "[ \t\n\r]{0,2}"
    }

    /// A JSON string literal as a client may write it: raw UTF-8 and every kind of escape.
    fn json_string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => any::<char>().prop_map(|c| match c {
                '"' | '\\' | '\u{0}'..='\u{1f}' => format!("\\u{:04x}", c as u32),
                c => c.to_string(),
            }),
            1 => prop::sample::select(vec![
                r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t", r"\u00e9",
                r"\u00E9", r"\ud83d\ude00", r"\u0000", " ",
            ])
            .prop_map(str::to_owned),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
    }

    /// A JSON number's text: ordinary, past `f64` (`1e400`) and past `u64`.
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,8})?([eE][+-]?[0-9]{1,4})?",
            1 => prop::sample::select(vec![
                "1e400", "-1e400", "1E+999", "1e-400", "12345678901234567890",
                "-9223372036854775809", "18446744073709551616", "-0", "0.10", "1.0e0",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// Any JSON value's text, as (written with white space, the same text compact).
    fn json_text() -> impl Strategy<Value = (String, String)> {
        let leaf = prop_oneof![
            number().prop_map(|n| (n.clone(), n)),
            json_string().prop_map(|s| (s.clone(), s)),
            prop::sample::select(vec!["true", "false", "null"])
                .prop_map(|s| (s.to_owned(), s.to_owned())),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..4).prop_map(|items| {
                    let spaced: Vec<String> = items
                        .iter()
                        .map(|(a, (s, _), b)| format!("{a}{s}{b}"))
                        .collect();
                    let compact: Vec<&str> =
                        items.iter().map(|(_, (_, c), _)| c.as_str()).collect();
                    (
                        format!("[{}]", spaced.join(",")),
                        format!("[{}]", compact.join(",")),
                    )
                }),
                prop::collection::vec((ws(), json_string(), ws(), ws(), inner, ws()), 0..4)
                    .prop_map(|members| {
                        let spaced: Vec<String> = members
                            .iter()
                            .map(|(a, k, b, c, (s, _), d)| format!("{a}{k}{b}:{c}{s}{d}"))
                            .collect();
                        let compact: Vec<String> = members
                            .iter()
                            .map(|(_, k, _, _, (_, c), _)| format!("{k}:{c}"))
                            .collect();
                        (
                            format!("{{{}}}", spaced.join(",")),
                            format!("{{{}}}", compact.join(",")),
                        )
                    }),
            ]
        })
    }

    /// A JSON value that is not an object, as (written, compact).
    fn non_object() -> impl Strategy<Value = (String, String)> {
        (ws(), json_text(), ws()).prop_map(|(a, (spaced, compact), b)| {
            if compact.starts_with('{') {
                (format!("{a}[{spaced}]{b}"), format!("[{compact}]"))
            } else {
                (format!("{a}{spaced}{b}"), compact)
            }
        })
    }

    /// A top-level key, decoded: the reserved ones, repeats, and any text.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => prop::sample::select(vec!["_now", "_me", "_channel", "data", "a", "é", ""])
                .prop_map(str::to_owned),
            2 => any::<String>(),
            1 => "[\"\\\\\u{0}-\u{1f}a]{0,3}",
        ]
    }

    /// `key` as written in the frame: encoded by serde_json, or every character escaped.
    fn written_key(key: &str, escape_all: bool) -> String {
        if !escape_all {
            return serde_json::to_string(key).unwrap();
        }
        let mut out = String::from("\"");
        for unit in key.encode_utf16() {
            out.push_str(&format!("\\u{unit:04X}"));
        }
        out.push('"');
        out
    }

    /// A channel for `shape_in`: none, a valid name, or any text.
    fn channel() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            2 => Just(None),
            2 => "[A-Za-z0-9._:@-]{1,64}".prop_map(Some),
            1 => any::<String>().prop_map(Some),
        ]
    }

    /// Frames of every kind: any text, JSON values, objects, and their broken prefixes.
    fn frame() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => any::<String>(),
            2 => json_text().prop_map(|(spaced, _)| spaced),
            1 => (json_text(), any::<prop::sample::Index>()).prop_map(|((spaced, _), at)| {
                // A prefix: mostly invalid JSON, sometimes still valid (a number's prefix).
                let cut: Vec<usize> = spaced.char_indices().map(|(i, _)| i).collect();
                match cut.len() {
                    0 => spaced,
                    n => spaced[..cut[at.index(n)]].to_owned(),
                }
            }),
            1 => prop::sample::select(FORMAT_TABLE.iter().map(|(input, _)| *input).collect::<Vec<_>>())
                .prop_map(str::to_owned),
        ]
    }

    /// The fields shaping adds, in order, at the end of the sender's copy.
    fn suffix(now: i64, channel: Option<&str>, me: bool) -> String {
        let channel = channel
            .map(|c| format!(",\"_channel\":{}", serde_json::to_string(c).unwrap()))
            .unwrap_or_default();
        format!("\"_now\":{now}{channel},\"_me\":{me}}}")
    }

    /// JSON text without white space between tokens (a model of the contract's "only white
    /// space between tokens is removed").
    fn strip_ws(raw: &str) -> String {
        let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
        for c in raw.chars() {
            if in_string {
                in_string = escaped || c != '"';
                escaped = !escaped && c == '\\';
                out.push(c);
            } else if !c.is_ascii_whitespace() || c == '\u{c}' {
                in_string = c == '"';
                out.push(c);
            }
        }
        out
    }

    fn text(bytes: &Bytes) -> &str {
        std::str::from_utf8(bytes).expect("a delivered copy is UTF-8")
    }

    fn reserved(key: &str, channel: Option<&str>) -> bool {
        key == "_now" || key == "_me" || (channel.is_some() && key == "_channel")
    }

    proptest! {
        /// Any text at all is shaped (never a panic) into two copies that differ only in
        /// `_me`, each a JSON object ending in the server's fields, whose other members
        /// are the object sent (minus the reserved keys, values' text kept) or `data`: the
        /// JSON value sent, else the text as a string.
        #[test]
        fn any_frame_is_shaped_into_an_object_ending_in_the_servers_fields(
            frame in frame(),
            now in any::<i64>(),
            channel in channel(),
        ) {
            let channel = channel.as_deref();
            let shaped = shape_in(&frame, now, channel);
            let sender = text(&shaped.for_sender);
            let others = text(&shaped.for_others);
            let common = sender.strip_suffix("true}").expect("the sender's copy ends in _me true");
            prop_assert_eq!(others, format!("{common}false}}"));
            prop_assert!(sender.ends_with(&suffix(now, channel, true)), "{}", sender);
            if channel.is_none() {
                prop_assert_eq!(&shaped, &shape(&frame, now));
            }
            for copy in [sender, others] {
                let members: IndexMap<String, &RawValue> =
                    serde_json::from_str(copy).expect("each copy is a JSON object");
                let keys: Vec<&str> = members.keys().map(String::as_str).collect();
                let tail: &[&str] = match channel {
                    Some(_) => &["_now", "_channel", "_me"],
                    None => &["_now", "_me"],
                };
                prop_assert!(keys.ends_with(tail), "{:?}", keys);
                let rest: Vec<(String, String)> = members
                    .iter()
                    .take(members.len() - tail.len())
                    .map(|(k, v)| (k.clone(), v.get().to_owned()))
                    .collect();
                let sent_object = frame.trim_start().starts_with('{')
                    .then(|| serde_json::from_str::<IndexMap<String, &RawValue>>(&frame).ok())
                    .flatten();
                let data = |raw: String| vec![("data".to_owned(), raw)];
                let expected: Vec<(String, String)> = match sent_object {
                    Some(object) => object
                        .iter()
                        .filter(|(k, _)| !reserved(k, channel))
                        .map(|(k, v)| (k.clone(), strip_ws(v.get())))
                        .collect(),
                    None => match serde_json::from_str::<&RawValue>(&frame) {
                        Ok(value) => data(strip_ws(value.get())),
                        Err(_) => data(serde_json::to_string(&frame).unwrap()),
                    },
                };
                prop_assert_eq!(&rest, &expected);
                if let [(key, data)] = &rest[..]
                    && key == "data"
                    && serde_json::from_str::<&RawValue>(&frame).is_err()
                {
                    prop_assert_eq!(serde_json::from_str::<String>(data).unwrap(), frame.clone());
                }
            }
        }

        /// A sent object keeps its members' order (a repeated key: its first position and
        /// last value) and their values' exact text, compact; its keys are re-encoded and
        /// the reserved ones, however escaped, are dropped for the server's.
        #[test]
        fn an_object_keeps_its_members_and_their_exact_text(
            members in prop::collection::vec((key(), any::<bool>(), ws(), ws(), json_text(), ws()), 0..6),
            (before, after) in (ws(), ws()),
            now in any::<i64>(),
            channel in channel(),
        ) {
            let channel = channel.as_deref();
            let written: Vec<String> = members
                .iter()
                .map(|(k, escape, a, b, (spaced, _), c)| {
                    format!("{a}{}{b}:{c}{spaced}", written_key(k, *escape))
                })
                .collect();
            let frame = format!("{before}{{{}}}{after}", written.join(","));
            let mut kept: IndexMap<&str, &str> = IndexMap::new();
            for (k, _, _, _, (_, compact), _) in &members {
                kept.insert(k, compact);
            }
            let mut expected = String::from("{");
            for (k, v) in kept.iter().filter(|(k, _)| !reserved(k, channel)) {
                expected.push_str(&format!("{}:{v},", serde_json::to_string(k).unwrap()));
            }
            let shaped = shape_in(&frame, now, channel);
            prop_assert_eq!(text(&shaped.for_sender), format!("{expected}{}", suffix(now, channel, true)));
            prop_assert_eq!(text(&shaped.for_others), format!("{expected}{}", suffix(now, channel, false)));
        }

        /// Any other JSON value becomes `data`, its text kept (compact); text that is not
        /// JSON becomes `data` as a string holding exactly that text.
        #[test]
        fn anything_else_is_wrapped_as_data(
            (spaced, compact) in non_object(),
            cut in any::<prop::sample::Index>(),
            plain in any::<String>(),
            now in any::<i64>(),
            channel in channel(),
        ) {
            let channel = channel.as_deref();
            let shaped = shape_in(&spaced, now, channel);
            prop_assert_eq!(
                text(&shaped.for_sender),
                format!("{{\"data\":{compact},{}", suffix(now, channel, true))
            );
            // Not JSON: a prefix that breaks it, or text with a stray character after it.
            let cuts: Vec<usize> = spaced.char_indices().map(|(i, _)| i).skip(1).collect();
            let broken = match cuts.len() {
                0 => format!("{spaced}x{plain}"),
                n => spaced[..cuts[cut.index(n)]].to_owned(),
            };
            for frame in [broken, format!("{compact} x{plain}"), format!("x{plain}")] {
                if serde_json::from_str::<&RawValue>(&frame).is_ok() {
                    continue; // a number's prefix is a number
                }
                let shaped = shape_in(&frame, now, channel);
                prop_assert_eq!(
                    text(&shaped.for_others),
                    format!("{{\"data\":{},{}", serde_json::to_string(&frame).unwrap(), suffix(now, channel, false))
                );
            }
        }

        /// Nesting of any depth is shaped without overflowing the stack: shallow nesting
        /// is kept as JSON, unclosed nesting is text, deep nesting is one or the other.
        #[test]
        fn deep_nesting_is_shaped_without_a_panic(
            depth in 0usize..400,
            object in any::<bool>(),
            closed in any::<bool>(),
            now in any::<i64>(),
        ) {
            let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
            let inner = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let mut frame = format!("{open}{inner}{close}");
            if !closed {
                frame.pop();
            }
            let body = if object { format!("\"a\":{inner}") } else { format!("\"data\":{frame}") };
            let as_json = format!("{{{body},{}", suffix(now, None, true));
            let as_text = format!(
                "{{\"data\":{},{}",
                serde_json::to_string(&frame).unwrap(),
                suffix(now, None, true)
            );
            let sender = shape(&frame, now).for_sender;
            let got = text(&sender);
            if !closed {
                prop_assert_eq!(got, as_text);
            } else if depth < 64 {
                prop_assert_eq!(got, as_json);
            } else {
                prop_assert!(got == as_json || got == as_text, "{}", got);
            }
        }

        /// A copy is refused exactly when the larger one (`"_me":false`) passes the quota,
        /// and the refusal says its size. Most frames are small (a 128 KB copy takes
        /// milliseconds unoptimised); 3 in 100 land within a few units of the limit, on
        /// either side.
        #[test]
        fn the_size_check_counts_the_larger_copy(
            // Each unit and the bytes it takes in a copy (JSON escapes grow some).
            (unit, grows) in prop::sample::select(vec![
                ("a", 1), ("é", 2), ("\"", 2), ("\u{1}", 6), ("✓", 3), ("{\"k\":1}", 9),
            ]),
            near_limit in prop::bool::weighted(0.03),
            offset in -64i64..64,
            small in 0usize..512,
            now in any::<i64>(),
            channel in channel(),
        ) {
            let count = if near_limit {
                usize::try_from(MAX_MESSAGE_BYTES as i64 + offset * 7).unwrap() / grows
            } else {
                small
            };
            let frame = unit.repeat(count);
            let shaped = shape_in(&frame, now, channel.as_deref());
            prop_assert_eq!(shaped.delivered_size(), shaped.for_others.len());
            prop_assert_eq!(shaped.for_others.len(), shaped.for_sender.len() + 1);
            let size = shaped.for_others.len();
            let expected = if size > MAX_MESSAGE_BYTES {
                Err(Refusal::TooLarge { size, limit: MAX_MESSAGE_BYTES })
            } else {
                Ok(())
            };
            prop_assert_eq!(check_size(&shaped), expected);
        }

        /// Text frames are their text; a binary frame is its bytes when they are UTF-8 and
        /// refused otherwise, whatever the body holds.
        #[test]
        fn frame_text_is_the_text_or_a_refusal(
            body in proptest::option::of(any::<String>()),
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            utf8 in any::<String>(),
        ) {
            prop_assert_eq!(
                frame_text(body.as_deref(), false),
                Ok(Cow::Borrowed(body.as_deref().unwrap_or("")))
            );
            // Any body as base64: decoded text is canonical base64 of itself.
            if let Ok(decoded) = frame_text(body.as_deref(), true) {
                prop_assert_eq!(BASE64_STANDARD.encode(decoded.as_bytes()), body.unwrap_or_default());
            }
            let encoded = BASE64_STANDARD.encode(&bytes);
            let expected = String::from_utf8(bytes).map_err(|_| Refusal::NotText);
            prop_assert_eq!(frame_text(Some(&encoded), true).map(Cow::into_owned), expected);
            let encoded = BASE64_STANDARD.encode(&utf8);
            prop_assert_eq!(frame_text(Some(&encoded), true).map(Cow::into_owned), Ok(utf8));
        }
    }
}
