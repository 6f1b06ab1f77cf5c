//! The function's settings, read from environment variables (set by the CloudFormation
//! template on AWS, by `mb dev` locally).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MB_TABLE_NAME` | the DynamoDB connection table | required |
//! | `MB_FANOUT_CONCURRENCY` | posts in flight at once per broadcast, at most (the window below it follows the endpoint's latency) | 960 |
//! | `MB_MANAGEMENT_ENDPOINT` | Management API URL, instead of `https://{domainName}/{stage}` | unset |
//! | `MB_CONNECT_GRACE_SECONDS` | a 410 from a younger row keeps it (the connect window) | 5 |
//! | `AWS_LAMBDA_FUNCTION_NAME` | set by Lambda: the function a broadcast hands on to | unset |
//! | `MB_AUTH` | `none`, or `jwt`: `$connect` needs a token (see [`crate::access::tokens`]) | `none` |
//! | `MB_AUTH_SECRET_ARN` | with `jwt`: the Secrets Manager secret HS256 tokens are signed with | unset |
//! | `MB_JWKS_URL` | with `jwt`: an issuer's key set (RS256/ES256), instead of a secret | unset |
//! | `MB_JWT_ISSUER`, `MB_JWT_AUDIENCE` | with `jwt`: the `iss` and `aud` tokens must have (the issuer is required with `MB_JWKS_URL`) | unset |
//! | `MB_ALLOWED_ORIGINS` | comma-separated origins a browser handshake must come from | any |
//! | `MB_MAX_MESSAGES_PER_SECOND` | messages one connection may send per second (0: no limit) | 0 |
//! | `MB_HISTORY_SECONDS` | how long a channel keeps each message for a resume (0: no history) | 120 |
//! | `MB_DEFAULT_ROOM_HISTORY` | `true`: the default room keeps history too (its copies then carry `_seq`) | `false` |
//! | `MB_DEDUPE_SECONDS` | how long a bus event's id or a publish's `Idempotency-Key` is remembered (60 to 604800) | 86400 |

use std::sync::Arc;

use crate::access::keys::{AuthConfig, KeyProvider, KeySource};
use crate::access::tokens::Verifier;
use crate::delivery::connect_window::DEFAULT_GRACE_SECONDS;
use crate::store::{
    DEFAULT_DEDUPE_SECONDS, DEFAULT_HISTORY_SECONDS, MAX_DEDUPE_SECONDS, MAX_HISTORY_SECONDS, Room,
};

/// Posts in flight at once during one broadcast at most, unless configured otherwise:
/// the highest Lambda's file descriptors allow ([`crate::delivery::in_flight`] keeps
/// fewer in flight when the endpoint's latency needs fewer).
pub const DEFAULT_CONCURRENCY: usize = crate::delivery::in_flight::MAX_CEILING;

/// The token check `$connect` needs: the keys, loaded by the authorizer when it first
/// needs them ([`crate::access::keys`]).
#[derive(Debug, Clone)]
pub struct Auth(pub Arc<KeyProvider>);

impl Auth {
    /// Tokens checked with exactly `verifier`'s keys (tests, `mb dev`'s secret file).
    pub fn fixed(verifier: Verifier) -> Auth {
        Auth(Arc::new(KeyProvider::fixed(verifier)))
    }
}

impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Auth {}

/// What the handler needs besides its store and gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// At most this many Management API posts in flight per broadcast (at least 1).
    pub concurrency: usize,
    /// Overrides the endpoint derived from the event (custom domains, `mb dev`, tests).
    pub management_endpoint: Option<String>,
    /// A 410 from a row younger than this keeps the row (the connect window).
    pub connect_grace_ms: i64,
    /// Tokens required: the authorizer checks them, and `$connect` refuses a
    /// connection no authorizer let in.
    pub auth: Option<Auth>,
    /// Browser origins a handshake may come from (empty: any).
    pub allowed_origins: Vec<String>,
    /// Messages one connection may send per second (0: no limit).
    pub max_messages_per_second: u32,
    /// How long a room that keeps history keeps each message (0: no room does).
    pub history_seconds: u32,
    /// Whether the default room keeps history (channels do whenever it is on).
    pub default_room_history: bool,
    /// How long a bus event's id or a publish's `Idempotency-Key` is remembered.
    pub dedupe_seconds: u32,
}

impl Settings {
    /// Whether `room`'s messages are numbered and kept (pure).
    pub fn keeps_history(&self, room: &Room) -> bool {
        self.history_seconds > 0 && (*room != Room::Default || self.default_room_history)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            management_endpoint: None,
            connect_grace_ms: i64::from(DEFAULT_GRACE_SECONDS) * 1000,
            auth: None,
            allowed_origins: Vec::new(),
            max_messages_per_second: 0,
            history_seconds: DEFAULT_HISTORY_SECONDS,
            default_room_history: false,
            dedupe_seconds: DEFAULT_DEDUPE_SECONDS,
        }
    }
}

/// The Lambda function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Everything but `auth`, which the key provider fills in ([`crate::access::keys::provider`]).
    pub settings: Settings,
    pub auth: AuthConfig,
    /// The function's own name, to hand a broadcast on to (`None`: no hand-on).
    pub function_name: Option<String>,
}

/// A missing or malformed variable, named with how to fix it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("MB_TABLE_NAME is not set: set it to the DynamoDB connection table's name")]
    MissingTable,
    #[error(
        "MB_FANOUT_CONCURRENCY={0:?} is not a whole number from 1 to 960 (Lambda allows 1,024 file descriptors)"
    )]
    BadConcurrency(String),
    #[error("MB_CONNECT_GRACE_SECONDS={0:?} is not a whole number from 0 to 300")]
    BadGrace(String),
    #[error("MB_AUTH={0:?} is neither none nor jwt")]
    BadAuth(String),
    #[error(
        "MB_AUTH=jwt needs MB_AUTH_SECRET_ARN (HS256 tokens) or MB_JWKS_URL (an issuer's keys), and not both"
    )]
    NoKeys,
    #[error(
        "MB_JWKS_URL is set without MB_JWT_ISSUER: a key set may sign tokens for other issuers' applications too; set MB_JWT_ISSUER to the `iss` its tokens carry (mb deploy --issuer URL)"
    )]
    KeySetWithoutIssuer,
    #[error("MB_ALLOWED_ORIGINS: {0}")]
    BadOrigin(String),
    #[error("MB_MAX_MESSAGES_PER_SECOND={0:?} is not a whole number from 0 to 10000")]
    BadRate(String),
    #[error("MB_HISTORY_SECONDS={0:?} is not a whole number from 0 to 86400")]
    BadHistory(String),
    #[error("MB_DEFAULT_ROOM_HISTORY={0:?} is neither true nor false")]
    BadDefaultRoomHistory(String),
    #[error("MB_DEDUPE_SECONDS={0:?} is not a whole number from 60 to 604800 (a week)")]
    BadDedupe(String),
}

impl Config {
    /// Reads the configuration through `var` (pure: pass `|k| std::env::var(k).ok()`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = var("MB_TABLE_NAME")
            .filter(|t| !t.is_empty())
            .ok_or(ConfigError::MissingTable)?;
        let concurrency = match var("MB_FANOUT_CONCURRENCY") {
            None => DEFAULT_CONCURRENCY,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1..=crate::delivery::in_flight::MAX_CEILING).contains(&n) => n,
                _ => return Err(ConfigError::BadConcurrency(raw)),
            },
        };
        let management_endpoint = var("MB_MANAGEMENT_ENDPOINT").filter(|e| !e.is_empty());
        let connect_grace_ms = match var("MB_CONNECT_GRACE_SECONDS") {
            None => i64::from(DEFAULT_GRACE_SECONDS) * 1000,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if (0..=300).contains(&n) => n * 1000,
                _ => return Err(ConfigError::BadGrace(raw)),
            },
        };
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let keys = match set("MB_AUTH").as_deref().map(str::trim) {
            None | Some("none") => KeySource::None,
            Some("jwt") => match (set("MB_AUTH_SECRET_ARN"), set("MB_JWKS_URL")) {
                (Some(arn), None) => KeySource::Secret(arn),
                (None, Some(_)) if set("MB_JWT_ISSUER").is_none() => {
                    return Err(ConfigError::KeySetWithoutIssuer);
                }
                (None, Some(url)) => KeySource::KeySetUrl(url),
                _ => return Err(ConfigError::NoKeys),
            },
            Some(other) => return Err(ConfigError::BadAuth(other.to_owned())),
        };
        let allowed_origins = set("MB_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .filter(|o| !o.trim().is_empty())
            .map(crate::access::origin::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::BadOrigin)?;
        let max_messages_per_second = match set("MB_MAX_MESSAGES_PER_SECOND") {
            None => 0,
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if n <= 10_000 => n,
                _ => return Err(ConfigError::BadRate(raw)),
            },
        };
        let history_seconds = match set("MB_HISTORY_SECONDS") {
            None => DEFAULT_HISTORY_SECONDS,
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if n <= MAX_HISTORY_SECONDS => n,
                _ => return Err(ConfigError::BadHistory(raw)),
            },
        };
        let default_room_history = match set("MB_DEFAULT_ROOM_HISTORY").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ConfigError::BadDefaultRoomHistory(other.to_owned())),
        };
        let dedupe_seconds = match set("MB_DEDUPE_SECONDS") {
            None => DEFAULT_DEDUPE_SECONDS,
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if (60..=MAX_DEDUPE_SECONDS).contains(&n) => n,
                _ => return Err(ConfigError::BadDedupe(raw)),
            },
        };
        Ok(Self {
            table_name,
            settings: Settings {
                concurrency,
                management_endpoint,
                connect_grace_ms,
                auth: None,
                allowed_origins,
                max_messages_per_second,
                history_seconds,
                default_room_history,
                dedupe_seconds,
            },
            auth: AuthConfig {
                keys,
                issuer: set("MB_JWT_ISSUER"),
                audience: set("MB_JWT_AUDIENCE"),
            },
            function_name: var("AWS_LAMBDA_FUNCTION_NAME").filter(|f| !f.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[("MB_TABLE_NAME", "t")]).unwrap();
        assert_eq!(c.table_name, "t");
        assert_eq!(c.settings, Settings::default());
        assert_eq!(c.auth.keys, KeySource::None);
    }

    #[test]
    fn access_control() {
        let c = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_AUTH", "jwt"),
            (
                "MB_AUTH_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            ),
            ("MB_JWT_ISSUER", "https://idp"),
            ("MB_ALLOWED_ORIGINS", "https://a.example,https://b.example/"),
            ("MB_MAX_MESSAGES_PER_SECOND", "20"),
        ])
        .unwrap();
        assert_eq!(
            c.auth.keys,
            KeySource::Secret("arn:aws:secretsmanager:eu-west-1:1:secret:s".into())
        );
        assert_eq!(c.auth.issuer.as_deref(), Some("https://idp"));
        assert_eq!(
            c.settings.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.settings.max_messages_per_second, 20);
        let h = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_HISTORY_SECONDS", "86400"),
            ("MB_DEFAULT_ROOM_HISTORY", "true"),
        ])
        .unwrap();
        assert_eq!(h.settings.history_seconds, 86_400);
        assert!(h.settings.keeps_history(&Room::Default));
        assert!(!Settings::default().keeps_history(&Room::Default));
        let off = Settings {
            history_seconds: 0,
            ..Settings::default()
        };
        let lobby = Room::Channel(crate::wire::channel::Channel::parse("lobby").unwrap());
        assert!(Settings::default().keeps_history(&lobby) && !off.keeps_history(&lobby));
        for (name, value, wanted) in [
            (
                "MB_HISTORY_SECONDS",
                "86401",
                ConfigError::BadHistory("86401".into()),
            ),
            (
                "MB_HISTORY_SECONDS",
                "-1",
                ConfigError::BadHistory("-1".into()),
            ),
            (
                "MB_DEFAULT_ROOM_HISTORY",
                "yes",
                ConfigError::BadDefaultRoomHistory("yes".into()),
            ),
        ] {
            assert_eq!(
                config(&[("MB_TABLE_NAME", "t"), (name, value)]),
                Err(wanted)
            );
        }
        for (vars, wanted) in [
            (vec![("MB_AUTH", "jwt")], ConfigError::NoKeys),
            (vec![("MB_AUTH", "yes")], ConfigError::BadAuth("yes".into())),
            (
                vec![("MB_AUTH", "jwt"), ("MB_JWKS_URL", "https://idp/keys")],
                ConfigError::KeySetWithoutIssuer,
            ),
            (
                vec![
                    ("MB_AUTH", "jwt"),
                    ("MB_JWKS_URL", "https://idp/keys"),
                    ("MB_JWT_ISSUER", " "),
                    ("MB_JWT_AUDIENCE", "app"),
                ],
                ConfigError::KeySetWithoutIssuer,
            ),
            (
                vec![("MB_MAX_MESSAGES_PER_SECOND", "-1")],
                ConfigError::BadRate("-1".into()),
            ),
        ] {
            let mut all = vec![("MB_TABLE_NAME", "t")];
            all.extend(vars);
            assert_eq!(config(&all), Err(wanted));
        }
        assert!(
            ConfigError::KeySetWithoutIssuer
                .to_string()
                .contains("set MB_JWT_ISSUER")
        );
        // With an issuer, a key set is fine; without tokens, a key set is not used.
        let keyed = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_AUTH", "jwt"),
            ("MB_JWKS_URL", "https://idp/keys"),
            ("MB_JWT_ISSUER", "https://idp"),
        ])
        .unwrap();
        assert_eq!(
            keyed.auth.keys,
            KeySource::KeySetUrl("https://idp/keys".into())
        );
        let unused = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_AUTH", "none"),
            ("MB_JWKS_URL", "https://idp/keys"),
        ])
        .unwrap();
        assert_eq!(unused.auth.keys, KeySource::None);
        let err = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_ALLOWED_ORIGINS", "app.example"),
        ]);
        assert!(matches!(err, Err(ConfigError::BadOrigin(_))));
    }

    #[test]
    fn all_set() {
        let c = config(&[
            ("MB_TABLE_NAME", "t"),
            ("MB_FANOUT_CONCURRENCY", "64"),
            ("MB_MANAGEMENT_ENDPOINT", "https://example.com/prod"),
            ("MB_CONNECT_GRACE_SECONDS", "0"),
            ("AWS_LAMBDA_FUNCTION_NAME", "mb-chat-dev"),
        ])
        .unwrap();
        assert_eq!(c.settings.connect_grace_ms, 0);
        assert_eq!(c.function_name.as_deref(), Some("mb-chat-dev"));
        assert_eq!(c.settings.concurrency, 64);
        assert_eq!(
            c.settings.management_endpoint.as_deref(),
            Some("https://example.com/prod")
        );
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(config(&[]), Err(ConfigError::MissingTable));
        for bad in ["0", "-1", "lots", "10001"] {
            let err =
                config(&[("MB_TABLE_NAME", "t"), ("MB_FANOUT_CONCURRENCY", bad)]).unwrap_err();
            assert!(err.to_string().contains("MB_FANOUT_CONCURRENCY"), "{err}");
        }
        for bad in ["-1", "soon", "301"] {
            let err =
                config(&[("MB_TABLE_NAME", "t"), ("MB_CONNECT_GRACE_SECONDS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("MB_CONNECT_GRACE_SECONDS"),
                "{err}"
            );
        }
    }
}
