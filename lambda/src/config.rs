//! The function's settings, read from environment variables (set by the CloudFormation
//! template on AWS, by `mb dev` locally).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MB_TABLE_NAME` | the DynamoDB connection table | required |
//! | `MB_FANOUT_CONCURRENCY` | posts in flight at once per broadcast | 256 |
//! | `MB_MANAGEMENT_ENDPOINT` | Management API URL, instead of `https://{domainName}/{stage}` | unset |
//! | `MB_CONNECT_GRACE_SECONDS` | a 410 from a younger row keeps it (the connect window) | 5 |
//! | `AWS_LAMBDA_FUNCTION_NAME` | set by Lambda: the function a broadcast hands on to | unset |

use crate::connect_window::DEFAULT_GRACE_SECONDS;

/// Posts in flight at once during one broadcast, unless configured otherwise.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// What the handler needs besides its store and gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// At most this many Management API posts in flight per broadcast (at least 1).
    pub concurrency: usize,
    /// Overrides the endpoint derived from the event (custom domains, `mb dev`, tests).
    pub management_endpoint: Option<String>,
    /// A 410 from a row younger than this keeps the row (the connect window).
    pub connect_grace_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            management_endpoint: None,
            connect_grace_ms: i64::from(DEFAULT_GRACE_SECONDS) * 1000,
        }
    }
}

/// The Lambda function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub settings: Settings,
    /// The function's own name, to hand a broadcast on to (`None`: no hand-on).
    pub function_name: Option<String>,
}

/// A missing or malformed variable, named with how to fix it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("MB_TABLE_NAME is not set: set it to the DynamoDB connection table's name")]
    MissingTable,
    #[error("MB_FANOUT_CONCURRENCY={0:?} is not a whole number from 1 to 10000")]
    BadConcurrency(String),
    #[error("MB_CONNECT_GRACE_SECONDS={0:?} is not a whole number from 0 to 300")]
    BadGrace(String),
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
                Ok(n) if (1..=10_000).contains(&n) => n,
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
        Ok(Self {
            table_name,
            settings: Settings {
                concurrency,
                management_endpoint,
                connect_grace_ms,
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
