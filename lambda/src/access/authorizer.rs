//! The `$connect` authorizer: API Gateway's Lambda `REQUEST` authorizer event in, an IAM
//! policy out (pure). API Gateway answers a handshake without the identity source
//! (`?token=`) with 401 itself, without calling the authorizer; a Deny gives the client
//! 403. An Allow's `context` reaches the `$connect` event as
//! `requestContext.authorizer`, from which [`identity_of`] reads it back. Context values
//! must be strings, numbers or booleans, so the channels travel comma-separated (a
//! channel name has no comma).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::access::tokens::{Denied, Identity, Verifier};
use crate::wire::channel::Channel;

/// The query parameter that carries the token.
pub const TOKEN_PARAMETER: &str = "token";

/// Whether an event is an authorizer request.
pub fn is_authorizer_event(event: &Value) -> bool {
    event.get("type").and_then(Value::as_str) == Some("REQUEST") && event.get("methodArn").is_some()
}

/// The token of an authorizer request (or of a connect URL's query pairs).
pub fn token(event: &Value) -> Option<&str> {
    event
        .pointer("/queryStringParameters/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// The token of `event` to check with `keys`, or why there is none: without keys (token
/// authentication not configured) every request is denied (fail closed).
pub fn token_to_check<K>(event: &Value, keys: Option<K>) -> Result<(&str, K), Denied> {
    let keys = keys.ok_or_else(|| Denied("token authentication is not configured".into()))?;
    let token = token(event).ok_or_else(|| Denied("no token".into()))?;
    Ok((token, keys))
}

/// The authorizer's answer to `event` with `verifier` at hand: Allow with the identity as
/// context, or Deny (also without a verifier).
pub fn respond(event: &Value, verifier: Option<&Verifier>) -> (Value, Result<Identity, Denied>) {
    let verdict = token_to_check(event, verifier).and_then(|(token, v)| v.verify(token));
    (answer(event, &verdict), verdict)
}

/// The IAM policy for `verdict` on `event`: Allow with the identity as context, or Deny.
pub fn answer(event: &Value, verdict: &Result<Identity, Denied>) -> Value {
    let method_arn = event
        .get("methodArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (principal, effect, context) = match verdict {
        Ok(identity) => (
            identity.sub.clone().unwrap_or_else(|| "anonymous".into()),
            "Allow",
            context_of(identity),
        ),
        Err(_) => ("anonymous".to_owned(), "Deny", json!({})),
    };
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": effect,
                "Resource": method_arn,
            }],
        },
        "context": context,
    })
}

/// Whether an authorizer answer allows the connection.
pub fn allows(answer: &Value) -> bool {
    answer
        .pointer("/policyDocument/Statement/0/Effect")
        .and_then(Value::as_str)
        == Some("Allow")
}

fn context_of(identity: &Identity) -> Value {
    let mut context = serde_json::Map::new();
    if let Some(sub) = &identity.sub {
        context.insert("sub".into(), sub.clone().into());
    }
    if let Some(channels) = &identity.channels {
        let names: Vec<&str> = channels.iter().map(Channel::as_str).collect();
        context.insert("channels".into(), names.join(",").into());
        context.insert("limited".into(), true.into());
    }
    context.insert("exp".into(), identity.exp.into());
    Value::Object(context)
}

/// What the `$connect` event's `requestContext.authorizer` says about the client: `None`
/// when no authorizer ran. API Gateway passes context values as strings.
pub fn identity_of(fields: &HashMap<String, Value>) -> Option<Admitted> {
    fields.get("exp")?;
    let text = |key: &str| match fields.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let sub = text("sub").filter(|s| !s.is_empty());
    let channels = match text("limited").as_deref() {
        Some("true") => Some(
            text("channels")
                .unwrap_or_default()
                .split(',')
                .filter_map(|name| Channel::parse(name).ok())
                .collect(),
        ),
        _ => None,
    };
    Some(Admitted { sub, channels })
}

/// Whom the authorizer let in: the token's subject, and the channels it allows (`None`:
/// any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub sub: Option<String>,
    pub channels: Option<BTreeSet<Channel>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::tokens::mint;
    use crate::clock::now_seconds;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn request(token: Option<&str>) -> Value {
        let mut event = json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/$connect",
            "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com"},
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "x="},
        });
        if let Some(token) = token {
            event["queryStringParameters"] = json!({ "token": token });
        }
        event
    }

    #[test]
    fn a_valid_token_is_allowed_with_its_identity_as_context() {
        let verifier = Verifier::secret(SECRET).unwrap();
        let a = Channel::parse("a").unwrap();
        let token = mint(
            SECRET,
            Some("u1"),
            std::slice::from_ref(&a),
            60,
            now_seconds(),
        )
        .unwrap();
        let event = request(Some(&token));
        assert!(is_authorizer_event(&event));
        let (answer, verdict) = respond(&event, Some(&verifier));
        assert!(verdict.is_ok());
        assert!(allows(&answer));
        assert_eq!(answer["principalId"], "u1");
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Resource"],
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/$connect"
        );
        // The context as API Gateway hands it on: values as strings.
        let fields: HashMap<String, Value> = answer["context"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                )
            })
            .collect();
        assert_eq!(
            identity_of(&fields),
            Some(Admitted {
                sub: Some("u1".into()),
                channels: Some([a].into())
            })
        );
        assert!(
            !answer.to_string().contains(&token),
            "the token is not echoed"
        );
    }

    #[test]
    fn no_token_a_bad_token_or_no_configuration_is_denied() {
        let verifier = Verifier::secret(SECRET).unwrap();
        for (event, verifier, why) in [
            (request(None), Some(&verifier), "no token"),
            (
                request(Some("x.y.z")),
                Some(&verifier),
                "the token is not a well-formed JWT",
            ),
            (
                request(Some(&mint(SECRET, None, &[], 60, now_seconds()).unwrap())),
                None,
                "token authentication is not configured",
            ),
        ] {
            let (answer, verdict) = respond(&event, verifier);
            assert_eq!(verdict, Err(Denied(why.into())), "{event}");
            assert!(!allows(&answer));
            assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Deny");
        }
        assert!(!is_authorizer_event(&json!({"requestContext": {}})));
        assert_eq!(identity_of(&HashMap::new()), None);
    }
}
