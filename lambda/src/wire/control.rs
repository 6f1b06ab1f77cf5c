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

/// A frame, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
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
pub fn parse(text: &str) -> Result<Frame, ControlError> {
    // Most messages are not control messages: skip the parse when no `action` appears.
    if !text.contains("\"action\"") {
        return Ok(Frame::Message);
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Ok(Frame::Message);
    };
    let action = match object.get("action") {
        Some(Value::String(action)) if ACTIONS.contains(&action.as_str()) => action.as_str(),
        _ => return Ok(Frame::Message),
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
    Ok(Frame::Control(control))
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
            Ok(Frame::Control(control)) => control,
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
            assert_eq!(parse(text), Ok(Frame::Message), "{text}");
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
