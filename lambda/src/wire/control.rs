//! Control messages: a frame that is a JSON object whose `action` is `subscribe`,
//! `unsubscribe`, `ping`, `publish` or `resume` is an instruction to the server, not a message to
//! broadcast. Any other frame, including objects with another `action`, is broadcast as
//! before. Parsing and the reply frames are pure.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::wire::channel::{Channel, ChannelError};
use crate::wire::error::ErrorFrame;
use crate::wire::position::{self, Asked};

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
    /// The room's kept messages after a position, then `{"action":"resumed",...}`
    /// (`channel` `None`: the default room).
    Resume {
        channel: Option<Channel>,
        asked: Asked,
    },
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
    #[error("resume of {0:?} refused: the connection's token does not allow that channel")]
    ForbiddenToResume(String),
    #[error("resume {0}")]
    BadResume(&'static str),
    #[error(
        "resume of {0:?} refused: the connection is not in the channel; subscribe first (or name it on the connect URL)"
    )]
    NotMemberToResume(String),
}

impl ControlError {
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::NoChannel { .. } | ControlError::NoData | ControlError::BadResume(_) => {
                "bad_control_message"
            }
            ControlError::BadChannel(_) => "bad_channel",
            ControlError::NotMember(_) | ControlError::NotMemberToResume(_) => "not_a_member",
            ControlError::Forbidden(_) | ControlError::ForbiddenToResume(_) => "forbidden_channel",
        }
    }

    /// The error frame for the sender, shaped as the other error frames.
    pub fn frame(&self, now_ms: i64) -> Bytes {
        ErrorFrame::new(self.code(), self.to_string()).frame(now_ms)
    }
}

const ACTIONS: [&str; 5] = ["subscribe", "unsubscribe", "ping", "publish", "resume"];

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
        "resume" => resume(&object)?,
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

/// A resume: `channel` optional (the default room), `seq` and `epoch` together, or `seq`
/// 0 alone, or neither.
fn resume(object: &Map<String, Value>) -> Result<Control, ControlError> {
    let channel = match object.get("channel") {
        None => None,
        Some(Value::String(name)) => Some(Channel::parse(name).map_err(ControlError::BadChannel)?),
        Some(_) => {
            return Err(ControlError::BadResume(
                "needs \"channel\" as a string, or none for the default room",
            ));
        }
    };
    let seq = match object.get("seq") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(seq) if seq <= position::MAX_SEQ => Some(seq),
            _ => {
                return Err(ControlError::BadResume(
                    "needs \"seq\" as a whole number from 0 to 2^53: the _seq of the last copy received",
                ));
            }
        },
    };
    let epoch = match object.get("epoch") {
        None | Some(Value::Null) => None,
        Some(Value::String(epoch)) if position::epoch_allowed(epoch) => Some(epoch.clone()),
        Some(_) => {
            return Err(ControlError::BadResume(
                "needs \"epoch\" as a string of 1 to 32 characters: the _epoch of the last copy received",
            ));
        }
    };
    let asked = match (seq, epoch) {
        (None, None) => Asked::Head,
        (Some(seq), epoch @ Some(_)) => Asked::After { epoch, seq },
        (Some(0), None) => Asked::After {
            epoch: None,
            seq: 0,
        },
        (Some(_), None) => {
            return Err(ControlError::BadResume(
                "needs the \"epoch\" of the copy whose \"seq\" it names (only seq 0 goes without one)",
            ));
        }
        (None, Some(_)) => {
            return Err(ControlError::BadResume(
                "needs the \"seq\" of the copy whose \"epoch\" it names",
            ));
        }
    };
    Ok(Control::Resume { channel, asked })
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
        Control::Publish { .. } | Control::Resume { .. } => return None,
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
            5 => prop::sample::select(vec!["subscribe", "unsubscribe", "ping", "publish", "resume"])
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
            Control::Resume { channel, asked } => {
                let mut object = json!({"action": "resume"});
                if let Some(channel) = channel {
                    object["channel"] = json!(channel.as_str());
                }
                if let Asked::After { epoch, seq } = asked {
                    object["seq"] = json!(seq);
                    if let Some(epoch) = epoch {
                        object["epoch"] = json!(epoch);
                    }
                }
                object
            }
        }
    }

    /// What a resume with these members means, written out case by case.
    fn resume_of(
        channel: &Option<Value>,
        seq: &Option<Value>,
        epoch: &Option<Value>,
    ) -> Result<Sent, ControlError> {
        let channel = match channel {
            None => None,
            Some(Value::String(name)) => {
                Some(Channel::parse(name).map_err(ControlError::BadChannel)?)
            }
            Some(_) => return Err(ControlError::BadResume("")),
        };
        let seq = match seq {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1 << 53) => n.as_u64(),
            Some(_) => return Err(ControlError::BadResume("")),
        };
        let epoch = match epoch {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) if (1..=32).contains(&e.chars().count()) => Some(e.clone()),
            Some(_) => return Err(ControlError::BadResume("")),
        };
        let asked = match (seq, epoch) {
            (None, None) => Asked::Head,
            (Some(0), None) => Asked::After {
                epoch: None,
                seq: 0,
            },
            (Some(seq), Some(epoch)) => Asked::After {
                epoch: Some(epoch),
                seq,
            },
            _ => return Err(ControlError::BadResume("")),
        };
        Ok(Sent::Control(Control::Resume { channel, asked }))
    }

    /// The same, but any two `BadResume`s are alike (their wording is not the model's).
    fn alike(read: &Result<Sent, ControlError>) -> Result<Sent, ControlError> {
        match read {
            Err(ControlError::BadResume(_)) => Err(ControlError::BadResume("")),
            other => other.clone(),
        }
    }

    /// A `seq` or `epoch` member: the right kind, near misses, any JSON, or none.
    fn member(right: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            3 => right.prop_map(Some),
            1 => json().prop_map(Some),
            1 => Just(None),
        ]
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
            object.remove("seq");
            object.remove("epoch");
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
                "resume" => resume_of(&channel, &None, &None),
                _ => Ok(Sent::Message),
            };
            prop_assert_eq!(&alike(&read), &expected, "{}", text);
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
            which in 0..6u8,
            data in prop::option::of(json()),
            text in any::<String>(),
            seq in 0u64..=1 << 53,
            epoch in prop::option::of("[a-z0-9-]{1,32}"),
        ) {
            let channel = Channel::parse(&name).unwrap();
            let control = match which {
                0 => Control::Subscribe(channel),
                1 => Control::Unsubscribe(channel),
                2 => Control::Ping(data.clone()),
                3 => Control::Resume {
                    channel: Some(channel),
                    asked: match epoch {
                        Some(epoch) => Asked::After { epoch: Some(epoch), seq },
                        None => Asked::Head,
                    },
                },
                _ => Control::Publish { channel, text },
            };
            prop_assert_eq!(parse(&write(&control).to_string()), Ok(Sent::Control(control.clone())));
            let reply = reply(&control).map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            let expected = match &control {
                Control::Subscribe(_) => Some(json!({"action": "subscribed", "channel": name})),
                Control::Unsubscribe(_) => Some(json!({"action": "unsubscribed", "channel": name})),
                Control::Ping(None) => Some(json!({"action": "pong"})),
                Control::Ping(Some(data)) => Some(json!({"action": "pong", "data": data})),
                Control::Publish { .. } | Control::Resume { .. } => None,
            };
            prop_assert_eq!(reply, expected);
        }

        /// A resume reads as its members say: a channel or none, `seq` a whole number up
        /// to 2^53, `epoch` a short string, together, or `seq` 0 alone, or neither;
        /// anything else is refused as a bad control message naming the member.
        #[test]
        fn a_resume_reads_as_its_members(
            channel in channel_member(),
            seq in member(prop_oneof![
                (0u64..=1 << 53).prop_map(Value::from),
                Just(Value::from(0)),
                Just(Value::from((1u64 << 53) + 1)),
                Just(Value::from(-1)),
                Just(json!(1.5)),
                Just(json!("3")),
            ].boxed()),
            epoch in member(prop_oneof![
                "[a-z0-9-]{1,32}".prop_map(Value::from),
                "[a-z]{33,40}".prop_map(Value::from),
                Just(Value::from("")),
                Just(Value::Null),
            ].boxed()),
            now in any::<i64>(),
        ) {
            let mut object = json!({"action": "resume"});
            for (key, value) in [("channel", &channel), ("seq", &seq), ("epoch", &epoch)] {
                if let Some(value) = value {
                    object[key] = value.clone();
                }
            }
            let read = parse(&object.to_string());
            prop_assert_eq!(alike(&read), resume_of(&channel, &seq, &epoch), "{}", object);
            if let Err(error) = read {
                let frame: Value = serde_json::from_slice(&error.frame(now)).unwrap();
                prop_assert_eq!(&frame["error"], error.code());
                if let ControlError::BadResume(why) = error {
                    prop_assert!(why.contains("channel") || why.contains("seq") || why.contains("epoch"));
                }
            }
        }
    }
}
