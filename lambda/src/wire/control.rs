//! Control messages: a frame that is a JSON object whose `action` is `subscribe`,
//! `unsubscribe`, `ping` or `publish` is an instruction to the server, not a message to
//! broadcast. Any other frame, including objects with another `action`, is broadcast as
//! before. Parsing and the reply frames are pure.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::wire::channel::{Channel, ChannelError};
use crate::wire::error::ErrorFrame;

/// What a control message asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Join a channel; the sender gets `{"action":"subscribed","channel":NAME}`.
    Subscribe(Channel),
    /// Leave a channel; the sender gets `{"action":"unsubscribed","channel":NAME}`.
    Unsubscribe(Channel),
    /// Only the sender gets `{"action":"pong","data":X}` (no `data` if none was sent).
    Ping(Option<Value>),
    /// `text` to the channel's members, shaped as a message: a string as it is, anything
    /// else as its JSON (so an object is merged, as a sent object is).
    Publish { channel: Channel, text: String },
}

/// What a client sent, read: a control action, or a message to broadcast. (A frame is
/// the WebSocket frame; this is what its text means.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Control(Control),
    /// Not a control message: broadcast it.
    Message,
}

/// A control message that cannot be carried out; the sender gets its error frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{action} needs a \"channel\" naming the channel, as a string")]
    NoChannel { action: &'static str },
    #[error("{0}")]
    BadChannel(ChannelError),
    #[error(
        "publish to {0:?} refused: only a member of the channel may publish to it; subscribe first"
    )]
    NotMember(String),
    #[error("publish needs \"data\": the message to send")]
    NoData,
    #[error("subscribe to {0:?} refused: the connection's token does not allow that channel")]
    Forbidden(String),
}

impl ControlError {
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::NoChannel { .. } | ControlError::NoData => "bad_control_message",
            ControlError::BadChannel(_) => "bad_channel",
            ControlError::NotMember(_) => "not_a_member",
            ControlError::Forbidden(_) => "forbidden_channel",
        }
    }

    /// The error frame for the sender, shaped as the other error frames.
    pub fn frame(&self, now_ms: i64) -> Bytes {
        ErrorFrame::new(self.code(), self.to_string()).frame(now_ms)
    }
}

const ACTIONS: [&str; 4] = ["subscribe", "unsubscribe", "ping", "publish"];

/// Reads a frame's text (pure).
pub fn parse(text: &str) -> Result<Sent, ControlError> {
    // Most messages are not control messages: skip the parse when no `action` appears.
    if !text.contains("\"action\"") {
        return Ok(Sent::Message);
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Ok(Sent::Message);
    };
    let action = match object.get("action") {
        Some(Value::String(action)) if ACTIONS.contains(&action.as_str()) => action.as_str(),
        _ => return Ok(Sent::Message),
    };
    let control = match action {
        "subscribe" => Control::Subscribe(channel(&object, "subscribe")?),
        "unsubscribe" => Control::Unsubscribe(channel(&object, "unsubscribe")?),
        "ping" => Control::Ping(object.get("data").cloned()),
        _ => {
            let channel = channel(&object, "publish")?;
            let text = match object.get("data") {
                None => return Err(ControlError::NoData),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            Control::Publish { channel, text }
        }
    };
    Ok(Sent::Control(control))
}

fn channel(object: &Map<String, Value>, action: &'static str) -> Result<Channel, ControlError> {
    match object.get("channel") {
        Some(Value::String(name)) => Channel::parse(name).map_err(ControlError::BadChannel),
        _ => Err(ControlError::NoChannel { action }),
    }
}

/// The sender's reply to a carried-out subscribe, unsubscribe or ping.
pub fn reply(control: &Control) -> Option<Bytes> {
    let reply = match control {
        Control::Subscribe(channel) => json!({"action": "subscribed", "channel": channel.as_str()}),
        Control::Unsubscribe(channel) => {
            json!({"action": "unsubscribed", "channel": channel.as_str()})
        }
        Control::Ping(None) => json!({"action": "pong"}),
        Control::Ping(Some(data)) => json!({"action": "pong", "data": data}),
        Control::Publish { .. } => return None,
    };
    Some(Bytes::from(reply.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(text: &str) -> Control {
        match parse(text) {
            Ok(Sent::Control(control)) => control,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn ch(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    #[test]
    fn the_four_actions() {
        assert_eq!(
            control(r#"{"action":"subscribe","channel":"b"}"#),
            Control::Subscribe(ch("b"))
        );
        assert_eq!(
            control(r#"{"action":"unsubscribe","channel":"b"}"#),
            Control::Unsubscribe(ch("b"))
        );
        assert_eq!(control(r#"{"action":"ping"}"#), Control::Ping(None));
        assert_eq!(
            control(r#"{"action":"ping","data":{"n":1}}"#),
            Control::Ping(Some(json!({"n": 1})))
        );
        assert_eq!(
            control(r#"{"action":"publish","channel":"b","data":"hi"}"#),
            Control::Publish {
                channel: ch("b"),
                text: "hi".into()
            }
        );
        assert_eq!(
            control(r#"{"action":"publish","channel":"b","data":{"k":[1]}}"#),
            Control::Publish {
                channel: ch("b"),
                text: r#"{"k":[1]}"#.into()
            }
        );
    }

    #[test]
    fn everything_else_is_a_message() {
        for text in [
            "hello",
            r#""action""#,
            r#"{"action":"move","x":1}"#,
            r#"{"action":1}"#,
            r#"["action","ping"]"#,
            r#"{"type":"ping"}"#,
            r#"{"action":"Ping"}"#,
            "{\"action\":\"ping\"",
        ] {
            assert_eq!(parse(text), Ok(Sent::Message), "{text}");
        }
    }

    #[test]
    fn malformed_control_messages_name_what_is_wrong() {
        let err = parse(r#"{"action":"subscribe"}"#).unwrap_err();
        assert_eq!(err.code(), "bad_control_message");
        assert!(err.to_string().contains("\"channel\""), "{err}");
        let err = parse(r#"{"action":"subscribe","channel":"a b"}"#).unwrap_err();
        assert_eq!(err.code(), "bad_channel");
        let err = parse(r#"{"action":"publish","channel":"a"}"#).unwrap_err();
        assert_eq!(err, ControlError::NoData);
        let frame: Value = serde_json::from_slice(&err.frame(7)).unwrap();
        assert_eq!(frame["error"], "bad_control_message");
        assert_eq!(frame["_now"], 7);
    }

    #[test]
    fn replies() {
        let text = |b: Option<Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
        assert_eq!(
            text(reply(&Control::Subscribe(ch("b")))),
            r#"{"action":"subscribed","channel":"b"}"#
        );
        assert_eq!(text(reply(&Control::Ping(None))), r#"{"action":"pong"}"#);
        assert_eq!(
            text(reply(&Control::Ping(Some(json!("hello"))))),
            r#"{"action":"pong","data":"hello"}"#
        );
    }
}

/// Properties of reading frames, over generated input: total, a control message's
/// fields read as written, and everything else a message. `PROPTEST_CASES` sets how many
/// cases each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value, nested a few levels, with keys that may be `action`, `channel` or
    /// `data`.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Decimals serde_json reads back exactly (extreme ones can lose their last digit).
            (any::<i32>(), 0..6i32).prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e))),
            any::<String>().prop_map(Value::String),
            prop::sample::select(vec!["subscribe", "ping", "publish", "a", "action"])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((field(), inner), 0..4)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["action", "channel", "data", "x"]).prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    /// An action: the four, and words that only look like them.
    fn action() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec!["subscribe", "unsubscribe", "ping", "publish"])
                .prop_map(str::to_owned),
            1 => prop::sample::select(vec!["Ping", "PUBLISH", " ping", "ping ", "move", "subscribed", ""])
                .prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    /// A `channel` member: a valid name, a near-valid or any text, another JSON type.
    fn channel_member() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            4 => "[A-Za-z0-9._:@-]{1,64}".prop_map(|n| Some(Value::String(n))),
            1 => "[A-Za-z0-9 ,/é#]{0,66}".prop_map(|n| Some(Value::String(n))),
            1 => json().prop_map(Some),
            1 => Just(None),
        ]
    }

    /// The control message a `Control` is written as: the inverse of [`parse`].
    fn write(control: &Control) -> Value {
        match control {
            Control::Subscribe(c) => json!({"action": "subscribe", "channel": c.as_str()}),
            Control::Unsubscribe(c) => json!({"action": "unsubscribe", "channel": c.as_str()}),
            Control::Ping(None) => json!({"action": "ping"}),
            Control::Ping(Some(data)) => json!({"action": "ping", "data": data}),
            Control::Publish { channel, text } => {
                json!({"action": "publish", "channel": channel.as_str(), "data": text})
            }
        }
    }

    proptest! {
        /// Any text is read without a panic; text without `"action"` is a message, and
        /// so is anything that is not a JSON object.
        #[test]
        fn any_text_is_read_and_most_is_a_message(text in any::<String>(), value in json()) {
            let read = parse(&text);
            if !text.contains("\"action\"") {
                prop_assert_eq!(read, Ok(Sent::Message));
            }
            let written = value.to_string();
            let read = parse(&written);
            if !value.is_object() || !written.contains("\"action\"") {
                prop_assert_eq!(read, Ok(Sent::Message), "{}", written);
            }
        }

        /// A control message built from generated parts reads as its parts say: the
        /// action, the channel (checked by `Channel::parse`), the data; an error names
        /// what is wrong and is sent as an error frame with its code.
        #[test]
        fn a_control_message_reads_as_its_fields(
            action in action(),
            channel in channel_member(),
            data in prop::option::of(json()),
            extra in prop::collection::vec((any::<String>(), json()), 0..3),
            now in any::<i64>(),
        ) {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            object.insert("action".into(), Value::String(action.clone()));
            object.remove("channel");
            object.remove("data");
            if let Some(channel) = &channel {
                object.insert("channel".into(), channel.clone());
            }
            if let Some(data) = &data {
                object.insert("data".into(), data.clone());
            }
            let text = Value::Object(object).to_string();
            let read = parse(&text);
            let named = |action: &'static str| match &channel {
                Some(Value::String(name)) => Channel::parse(name).map_err(ControlError::BadChannel),
                _ => Err(ControlError::NoChannel { action }),
            };
            let expected = match action.as_str() {
                "subscribe" => named("subscribe").map(|c| Sent::Control(Control::Subscribe(c))),
                "unsubscribe" => named("unsubscribe").map(|c| Sent::Control(Control::Unsubscribe(c))),
                "ping" => Ok(Sent::Control(Control::Ping(data.clone()))),
                "publish" => named("publish").and_then(|channel| match &data {
                    None => Err(ControlError::NoData),
                    Some(Value::String(text)) => Ok(Sent::Control(Control::Publish { channel, text: text.clone() })),
                    Some(other) => Ok(Sent::Control(Control::Publish { channel, text: other.to_string() })),
                }),
                _ => Ok(Sent::Message),
            };
            prop_assert_eq!(&read, &expected, "{}", text);
            match read {
                Ok(Sent::Control(Control::Publish { text: published, .. })) => {
                    // Data that is not a string travels as its JSON, which reads back as it.
                    if let Some(data) = data.as_ref().filter(|d| !d.is_string()) {
                        prop_assert_eq!(&serde_json::from_str::<Value>(&published).unwrap(), data);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let frame: Value = serde_json::from_slice(&error.frame(now)).unwrap();
                    prop_assert_eq!(&frame["error"], error.code());
                    prop_assert_eq!(&frame["_now"], now);
                    prop_assert_eq!(&frame["reason"], &error.to_string());
                }
            }
        }

        /// A control message read, written again and read again is the same control;
        /// its reply (none for a publish) names its action's past and its channel or data.
        #[test]
        fn a_control_reads_back_and_is_answered(
            name in "[A-Za-z0-9._:@-]{1,64}",
            which in 0..5u8,
            data in prop::option::of(json()),
            text in any::<String>(),
        ) {
            let channel = Channel::parse(&name).unwrap();
            let control = match which {
                0 => Control::Subscribe(channel),
                1 => Control::Unsubscribe(channel),
                2 => Control::Ping(data.clone()),
                _ => Control::Publish { channel, text },
            };
            prop_assert_eq!(parse(&write(&control).to_string()), Ok(Sent::Control(control.clone())));
            let reply = reply(&control).map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            let expected = match &control {
                Control::Subscribe(_) => Some(json!({"action": "subscribed", "channel": name})),
                Control::Unsubscribe(_) => Some(json!({"action": "unsubscribed", "channel": name})),
                Control::Ping(None) => Some(json!({"action": "pong"})),
                Control::Ping(Some(data)) => Some(json!({"action": "pong", "data": data})),
                Control::Publish { .. } => None,
            };
            prop_assert_eq!(reply, expected);
        }
    }
}
