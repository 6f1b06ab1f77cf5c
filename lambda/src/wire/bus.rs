//! Events from the services' bus (pure): an SQS message read into what to publish, to
//! which room, under which dedupe key, or the reason it never can be.
//!
//! Three shapes arrive as an SQS message's body (docs/protocol.md, "Events from the
//! bus"):
//! - the envelope itself, `{"channel":"orders:42","event":"order.updated","data":{..},"id":".."}`,
//!   sent to the queue or published to an SNS topic with raw delivery;
//! - an SNS notification (a subscription without raw delivery): the envelope is its
//!   `Message`;
//! - an EventBridge event: the envelope is its `detail`, and `detail-type` is the event
//!   when the detail names none.
//!
//! A `channel` message attribute (SQS's, or the notification's SNS attribute) wins over
//! the field, so a service can route an unchanged domain event: without `data`, the whole
//! envelope is the data. `"channel":"#"` names the default room; no channel at all is
//! refused, never broadcast to the default room by accident. What clients receive is what
//! a server publish of `{"event":E,"data":D}` to that room gives.
//!
//! The dedupe key is the envelope's `id`, else the SNS or EventBridge message id, else
//! the SQS message id (each of those three prefixed by where it came from, so their id
//! spaces never meet; an `id` is taken as given, so a service that sends the same `id`
//! through two paths, or as an HTTP publish's `Idempotency-Key`, is delivered once).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsMessage;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde_json::Value;

use crate::delivery::dedupe::Outcome;
use crate::store::{DEFAULT_ROOM, Room};
use crate::wire::channel::{Channel, ChannelError};

/// The message attribute that names the channel (SQS's, or SNS's carried over).
pub const CHANNEL_ATTRIBUTE: &str = "channel";
/// The longest dedupe key an event may give (`id`, or an `Idempotency-Key`).
pub const MAX_ID: usize = 256;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Sent to the queue, or through SNS with raw delivery.
    Queue,
    /// An SNS notification (a subscription without raw delivery).
    Sns,
    EventBridge,
}

impl Source {
    /// The prefix of a dedupe key made from this source's own message id.
    fn prefix(self) -> &'static str {
        match self {
            Source::Queue => "sqs:",
            Source::Sns => "sns:",
            Source::EventBridge => "events:",
        }
    }
}

/// An event read: what to publish where, at most once per `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    pub room: Room,
    /// The message, as the body of a server publish: `{"event":E,"data":D}`
    /// (`{"data":D}` when there is no event name).
    pub text: String,
    /// Delivered at most once per key within the dedupe window.
    pub key: String,
    pub source: Source,
}

/// Why an event can never be delivered: it is dropped, and logged with its id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the message has no body")]
    NoBody,
    #[error("the body is not JSON ({0}): send the envelope as a JSON object")]
    NotJson(String),
    #[error("the envelope is not a JSON object: send {{\"channel\":..,\"event\":..,\"data\":..}}")]
    NotObject,
    #[error(
        "no channel: name one with the `channel` field or message attribute (`#` for the default room)"
    )]
    NoChannel,
    #[error("`channel` must be a string")]
    ChannelNotText,
    #[error("{0}")]
    BadChannel(ChannelError),
    #[error("`event` must be a string")]
    EventNotText,
    #[error("`id` must be a string or a number of 1 to {MAX_ID} characters")]
    BadId,
    #[error("the SNS notification cannot be read: {0}")]
    BadNotification(String),
    #[error("the EventBridge event cannot be read: {0}")]
    BadEventBridge(String),
    #[error("the message has no id to deduplicate it by")]
    NoId,
}

impl Rejected {
    /// The code a log line and an answer give.
    pub fn code(&self) -> &'static str {
        match self {
            Rejected::NoBody | Rejected::NotJson(_) | Rejected::NotObject => "bad_envelope",
            Rejected::BadNotification(_) | Rejected::BadEventBridge(_) => "bad_envelope",
            Rejected::NoChannel | Rejected::ChannelNotText | Rejected::BadChannel(_) => {
                "bad_channel"
            }
            Rejected::EventNotText => "bad_event",
            Rejected::BadId | Rejected::NoId => "bad_id",
        }
    }
}

/// Reads one SQS message (pure, total).
pub fn read(message: &SqsMessage) -> Result<BusEvent, Rejected> {
    let attribute = message
        .message_attributes
        .get(CHANNEL_ATTRIBUTE)
        .and_then(|a| a.string_value.clone());
    let body = message.body.as_deref().ok_or(Rejected::NoBody)?;
    let parsed: Value = serde_json::from_str(body).map_err(|e| Rejected::NotJson(e.to_string()))?;
    let queue_id = message.message_id.as_deref().filter(|id| !id.is_empty());
    if is_notification(&parsed) {
        let notification: SnsMessage =
            serde_json::from_value(parsed).map_err(|e| Rejected::BadNotification(e.to_string()))?;
        let inner: Value = serde_json::from_str(&notification.message)
            .map_err(|e| Rejected::NotJson(e.to_string()))?;
        let attribute = attribute.or_else(|| {
            notification
                .message_attributes
                .get(CHANNEL_ATTRIBUTE)
                .map(|a| a.value.clone())
        });
        let own = Some(notification.message_id.as_str()).filter(|id| !id.is_empty());
        return envelope(inner, attribute, None, own, Source::Sns);
    }
    if is_eventbridge(&parsed) {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(parsed).map_err(|e| Rejected::BadEventBridge(e.to_string()))?;
        let own = event.id.as_deref().filter(|id| !id.is_empty()).or(queue_id);
        return envelope(
            event.detail,
            attribute,
            Some(event.detail_type),
            own,
            Source::EventBridge,
        );
    }
    envelope(parsed, attribute, None, queue_id, Source::Queue)
}

/// An SNS notification as SQS carries it without raw delivery.
fn is_notification(body: &Value) -> bool {
    body.get("Type").and_then(Value::as_str) == Some("Notification")
        && body.get("TopicArn").is_some()
        && body.get("Message").is_some_and(Value::is_string)
}

/// An EventBridge event: an object with `detail-type` and `source`.
fn is_eventbridge(body: &Value) -> bool {
    body.get("detail-type").is_some() && body.get("source").is_some()
}

fn envelope(
    value: Value,
    attribute: Option<String>,
    default_event: Option<String>,
    own_id: Option<&str>,
    source: Source,
) -> Result<BusEvent, Rejected> {
    let Value::Object(mut fields) = value else {
        return Err(Rejected::NotObject);
    };
    let channel = match attribute {
        Some(name) => name,
        None => match fields.get("channel") {
            None | Some(Value::Null) => return Err(Rejected::NoChannel),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(Rejected::ChannelNotText),
        },
    };
    let room = if channel == DEFAULT_ROOM {
        Room::Default
    } else {
        Room::Channel(Channel::parse(&channel).map_err(Rejected::BadChannel)?)
    };
    let event = match fields.get("event") {
        None | Some(Value::Null) => default_event,
        Some(Value::String(event)) => Some(event.clone()),
        Some(_) => return Err(Rejected::EventNotText),
    };
    let key = match fields.get("id") {
        None | Some(Value::Null) => match own_id {
            Some(id) => format!("{}{id}", source.prefix()),
            None => return Err(Rejected::NoId),
        },
        Some(given) => idempotency_key(given).ok_or(Rejected::BadId)?,
    };
    let data = match fields.remove("data") {
        Some(data) => data,
        // An unchanged domain event, routed by the attribute: all of it is the data.
        None => Value::Object(fields),
    };
    Ok(BusEvent {
        room,
        text: publish_text(event.as_deref(), &data),
        key,
        source,
    })
}

/// A dedupe key given by the sender (an envelope's `id`, an `Idempotency-Key`): a string
/// or a number, 1 to [`MAX_ID`] characters, no control characters.
fn idempotency_key(given: &Value) -> Option<String> {
    let key = match given {
        Value::String(key) => key.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    checked_key(&key).map(str::to_owned)
}

/// `key`, if it can be a dedupe key (pure).
pub fn checked_key(key: &str) -> Option<&str> {
    let length = key.chars().count();
    ((1..=MAX_ID).contains(&length) && !key.chars().any(char::is_control)).then_some(key)
}

/// The body of a server publish of `event` and `data`: `{"event":E,"data":D}`, in that
/// order, or `{"data":D}` (pure).
pub fn publish_text(event: Option<&str>, data: &Value) -> String {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    match event.map(serde_json::to_string) {
        Some(Ok(event)) => format!("{{\"event\":{event},\"data\":{data}}}"),
        _ => format!("{{\"data\":{data}}}"),
    }
}

/// One message of a batch, and its end.
#[derive(Debug, Clone, PartialEq)]
pub struct EventResult {
    /// The SQS message id (what a batch item failure names).
    pub message_id: String,
    /// The dedupe key, once the message was read.
    pub key: Option<String>,
    pub outcome: Outcome,
}

/// The batch response Lambda's event source mapping reads (`ReportBatchItemFailures`):
/// the messages to retry, by id; every other one is deleted from the queue (pure).
pub fn batch_response(results: &[EventResult]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Retry(_)))
        .map(|r| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = r.message_id.clone();
            failure
        })
        .collect();
    response
}

/// An SQS message with `body`, its message id and `channel`-style string attributes, as
/// the event source mapping delivers one (tests).
#[cfg(test)]
pub(crate) fn test_message(id: &str, body: &str, attributes: &[(&str, &str)]) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message.event_source = Some("aws:sqs".to_owned());
    message.message_attributes = attributes
        .iter()
        .map(|(name, value)| {
            let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
            attribute.string_value = Some((*value).to_owned());
            attribute.data_type = Some("String".to_owned());
            ((*name).to_owned(), attribute)
        })
        .collect();
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(body: &str, id: &str, attributes: &[(&str, &str)]) -> SqsMessage {
        test_message(id, body, attributes)
    }

    fn channel(name: &str) -> Room {
        Room::Channel(Channel::parse(name).unwrap())
    }

    /// An SNS notification as SQS carries it without raw delivery.
    fn notification(message: &Value, attributes: Value) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "sns-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
            "Message": message.to_string(),
            "Timestamp": "2026-12-06T10:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "c2ln",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": attributes,
        })
        .to_string()
    }

    fn eventbridge_event(detail: &Value) -> String {
        json!({
            "version": "0",
            "id": "eb-1",
            "detail-type": "order.updated",
            "source": "shop.orders",
            "account": "123456789012",
            "time": "2026-12-06T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        })
        .to_string()
    }

    #[test]
    fn an_sqs_body_is_the_envelope() {
        let body = json!({"channel": "orders:42", "event": "order.updated", "data": {"total": 3}, "id": "o-42-7"});
        let read = read(&message(&body.to_string(), "m-1", &[])).unwrap();
        assert_eq!(read.room, channel("orders:42"));
        assert_eq!(read.text, r#"{"event":"order.updated","data":{"total":3}}"#);
        assert_eq!(read.key, "o-42-7");
        assert_eq!(read.source, Source::Queue);
        // Without an id, the SQS message's.
        let body = json!({"channel": "orders:42", "data": 1});
        let read = super::read(&message(&body.to_string(), "m-1", &[])).unwrap();
        assert_eq!(
            (read.key.as_str(), read.text.as_str()),
            ("sqs:m-1", r#"{"data":1}"#)
        );
    }

    #[test]
    fn the_channel_attribute_wins_and_an_unchanged_event_is_the_data() {
        let domain = json!({"orderId": 42, "status": "shipped", "channel": "elsewhere"});
        let read = read(&message(
            &domain.to_string(),
            "m-2",
            &[("channel", "orders:42")],
        ))
        .unwrap();
        assert_eq!(read.room, channel("orders:42"));
        assert_eq!(read.text, format!("{{\"data\":{domain}}}"));
        assert_eq!(read.key, "sqs:m-2");
    }

    #[test]
    fn an_sns_notification_carries_the_envelope_in_its_message() {
        let envelope = json!({"channel": "orders:42", "event": "order.updated", "data": [1]});
        let body = notification(&envelope, json!({}));
        let read = read(&message(&body, "m-3", &[])).unwrap();
        assert_eq!(read.room, channel("orders:42"));
        assert_eq!(read.text, r#"{"event":"order.updated","data":[1]}"#);
        assert_eq!((read.key.as_str(), read.source), ("sns:sns-1", Source::Sns));
        // Its own channel attribute routes it.
        let body = notification(
            &json!({"status": "paid"}),
            json!({"channel": {"Type": "String", "Value": "orders:7"}}),
        );
        let read = super::read(&message(&body, "m-4", &[])).unwrap();
        assert_eq!(read.room, channel("orders:7"));
        assert_eq!(read.text, r#"{"data":{"status":"paid"}}"#);
    }

    #[test]
    fn an_eventbridge_event_carries_the_envelope_in_its_detail() {
        let body = eventbridge_event(&json!({"channel": "orders:42", "data": {"a": 1}}));
        let read = read(&message(&body, "m-5", &[])).unwrap();
        assert_eq!(read.room, channel("orders:42"));
        // detail-type is the event when the detail names none.
        assert_eq!(read.text, r#"{"event":"order.updated","data":{"a":1}}"#);
        assert_eq!(
            (read.key.as_str(), read.source),
            ("events:eb-1", Source::EventBridge)
        );
        // Routed by the queue message's attribute (an input transformer cannot add one,
        // but a rule on a bus a service controls sends the detail unchanged).
        let body = eventbridge_event(&json!({"orderId": 1, "event": "paid", "id": "x"}));
        let read = super::read(&message(&body, "m-6", &[("channel", "orders:1")])).unwrap();
        assert_eq!(read.room, channel("orders:1"));
        assert_eq!(read.key, "x");
        assert_eq!(
            read.text,
            r#"{"event":"paid","data":{"event":"paid","id":"x","orderId":1}}"#
        );
    }

    #[test]
    fn the_default_room_is_said_explicitly() {
        let read = read(&message(r##"{"channel":"#","data":"hi"}"##, "m", &[])).unwrap();
        assert_eq!(read.room, Room::Default);
        let read = super::read(&message(r#"{"data":"hi"}"#, "m", &[("channel", "#")])).unwrap();
        assert_eq!(read.room, Room::Default);
    }

    #[test]
    fn what_can_never_be_delivered_says_why() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 9] = [
            ("not json", &[], "bad_envelope"),
            ("[1,2]", &[], "bad_envelope"),
            (r#"{"data":1}"#, &[], "bad_channel"),
            (r#"{"channel":null,"data":1}"#, &[], "bad_channel"),
            (r#"{"channel":7,"data":1}"#, &[], "bad_channel"),
            (r#"{"channel":"a b","data":1}"#, &[], "bad_channel"),
            (r#"{"data":1}"#, &[("channel", "")], "bad_channel"),
            (r#"{"channel":"a","event":{},"data":1}"#, &[], "bad_event"),
            (r#"{"channel":"a","id":"","data":1}"#, &[], "bad_id"),
        ];
        for (body, attributes, code) in cases {
            let refused = read(&message(body, "m", attributes)).unwrap_err();
            assert_eq!(refused.code(), code, "{body}: {refused}");
        }
        let mut no_body = message("", "m", &[]);
        no_body.body = None;
        assert_eq!(read(&no_body).unwrap_err(), Rejected::NoBody);
        let mut no_id = message(r#"{"channel":"a"}"#, "", &[]);
        no_id.message_id = None;
        assert_eq!(read(&no_id).unwrap_err(), Rejected::NoId);
        // A notification whose Message is not JSON.
        let body = json!({"Type": "Notification", "TopicArn": "t", "Message": "plain text",
            "MessageId": "s", "Timestamp": "2026-12-06T10:00:00.000Z", "SignatureVersion": "1",
            "Signature": "x", "SigningCertURL": "u", "UnsubscribeURL": "u"});
        assert_eq!(
            read(&message(&body.to_string(), "m", &[]))
                .unwrap_err()
                .code(),
            "bad_envelope"
        );
    }

    #[test]
    fn the_publish_text_is_event_then_data() {
        assert_eq!(
            publish_text(Some("a\"b"), &json!({"z": 1, "a": 2})),
            r#"{"event":"a\"b","data":{"a":2,"z":1}}"#
        );
        assert_eq!(publish_text(None, &Value::Null), r#"{"data":null}"#);
    }
}

/// Properties over generated messages: reading is total; what it accepts names a valid
/// room, a key of at most [`MAX_ID`] characters (or a source's prefix and id), and a text
/// that is a JSON object of `event` (a string, if any) then `data`, the input's.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z#:. \"\\\\]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,6}|channel|event|data|id", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            (json_value(), json_value()).prop_map(|(detail, id)| json!({
                "detail-type": "t", "source": "s", "detail": detail, "id": id
            })
            .to_string()),
            json_value().prop_map(|m| json!({
                "Type": "Notification", "TopicArn": "t", "Message": m.to_string(),
                "MessageId": "s", "Timestamp": "2026-12-06T10:00:00.000Z",
                "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "u",
                "UnsubscribeURL": "u"
            })
            .to_string()),
            ".{0,40}",
        ]
    }

    proptest! {
        #[test]
        fn reading_is_total_and_what_it_accepts_is_a_publish(
            body in body(),
            id in proptest::option::of("[a-z0-9-]{0,12}"),
            attribute in proptest::option::of("[a-z#: ]{0,6}"),
        ) {
            let attributes: Vec<(&str, &str)> =
                attribute.iter().map(|a| ("channel", a.as_str())).collect();
            let mut message = test_message("", &body, &attributes);
            message.message_id = id;
            if let Ok(event) = read(&message) {
                if let Room::Channel(channel) = &event.room {
                    prop_assert!(Channel::parse(channel.as_str()).is_ok());
                }
                prop_assert!(!event.key.is_empty());
                prop_assert!(event.key.chars().count() <= MAX_ID + "events:".len() + 12);
                let text: Value = serde_json::from_str(&event.text).unwrap();
                let object = text.as_object().unwrap();
                prop_assert!(object.contains_key("data"));
                let keys: Vec<&String> = object.keys().collect();
                prop_assert!(keys == ["data"] || keys == ["data", "event"] || keys == ["event", "data"]);
                if let Some(event) = object.get("event") {
                    prop_assert!(event.is_string());
                }
            }
        }

        #[test]
        fn a_text_is_the_event_and_data_given(event in proptest::option::of(".{0,10}"), data in json_value()) {
            let text: Value = serde_json::from_str(&publish_text(event.as_deref(), &data)).unwrap();
            prop_assert_eq!(&text["data"], &data);
            prop_assert_eq!(text.get("event").and_then(Value::as_str), event.as_deref());
        }
    }
}
