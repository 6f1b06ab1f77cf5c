//! The deployed service's tunable settings: one table that feeds `mb deploy`'s flags, the
//! keys of `mb.toml`, the template parameters a deploy passes, what `mb info` shows and
//! the table in docs/deploy.md (a test keeps the document and the template equal to it).
//!
//! A setting not given keeps its deployed value on an update (`UsePreviousValue`), and
//! takes its default on a create: CloudFormation gives every omitted parameter its
//! default, so leaving one out of an update would silently undo it. Most defaults are the
//! template's; a *computed* one ([`DefaultValue::Computed`]) depends on the account (the
//! reserved concurrency it can spare), so the deploy works it out and passes it, and the
//! template's default only serves a template deployed without `mb`. Everything here is
//! pure.

use std::collections::BTreeMap;

use clap::{Arg, ArgMatches, Args, FromArgMatches};

use crate::stack::ParameterValue;

/// The values a setting may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// A whole number from `min` to `max`, both included.
    Range { min: u32, max: u32 },
    /// One of these whole numbers.
    OneOf(&'static [u32]),
    /// One of these words (a template parameter of type String with `AllowedValues`).
    Choice(&'static [&'static str]),
    /// A text that passes the check; empty means not set (and clears a deployed value).
    Text(Check),
    /// A list (a repeatable flag, an array in `mb.toml`), each entry passing the check;
    /// the template gets it comma-joined, and an empty list clears a deployed one.
    List(Check),
}

/// How a text setting's value (or each entry of a list) is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// An `https://` URL.
    HttpsUrl,
    /// A token claim's expected value (`iss`, `aud`): printable, no comma.
    Claim,
    /// A browser origin, as [`mb_lambda::access::origin::parse`] accepts it.
    Origin,
}

/// The longest text a text setting takes (CloudFormation allows 4,096 bytes in all).
const MAX_TEXT: usize = 1024;

impl Check {
    /// `value` checked: the value to deploy, or why it is wrong.
    pub fn check(self, value: &str) -> Result<String, String> {
        let value = value.trim();
        if value.len() > MAX_TEXT {
            return Err(format!(
                "is {} characters, more than {MAX_TEXT}",
                value.len()
            ));
        }
        match self {
            Check::HttpsUrl => {
                let host = value
                    .strip_prefix("https://")
                    .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
                    .unwrap_or_default();
                if host.is_empty() || value.contains(|c: char| c.is_whitespace() || c == ',') {
                    return Err(format!(
                        "`{value}` is not an https:// URL (for example \
                         https://idp.example.com/.well-known/jwks.json)"
                    ));
                }
                Ok(value.to_owned())
            }
            Check::Claim => {
                if value.contains(|c: char| c.is_control() || c == ',') {
                    return Err(format!(
                        "`{}` has a comma or a control character",
                        value.escape_debug()
                    ));
                }
                Ok(value.to_owned())
            }
            Check::Origin => mb_lambda::access::origin::parse(value),
        }
    }

    /// What the check admits, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Check::HttpsUrl => "an https:// URL",
            Check::Claim => "text without commas",
            Check::Origin => "origins such as https://app.example.com",
        }
    }

    /// The flag's value name.
    fn value_name(self) -> &'static str {
        match self {
            Check::HttpsUrl => "URL",
            Check::Claim => "TEXT",
            Check::Origin => "ORIGIN",
        }
    }
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Number(u32),
    /// A word of [`Allowed::Choice`] or the text of [`Allowed::Text`] (empty: not set).
    Text(String),
    /// The entries of [`Allowed::List`] (none: not set).
    List(Vec<String>),
}

impl Value {
    /// The template parameter's value: the number, the text, or the entries
    /// comma-joined.
    pub fn parameter(&self) -> String {
        match self {
            Value::Number(n) => n.to_string(),
            Value::Text(text) => text.clone(),
            Value::List(entries) => entries.join(","),
        }
    }
}

/// What a create takes for a setting that is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// The template's default: the deploy passes nothing and CloudFormation takes it.
    Template(u32),
    /// Worked out by the deploy and passed as a value (`how` says how, for `--help` and
    /// the docs); `template` is the template's default, for a template deployed without
    /// `mb`.
    Computed { template: u32, how: &'static str },
    /// The template's default for a text setting (empty: not set).
    Word(&'static str),
}

impl DefaultValue {
    /// The template's default, as the template writes it.
    pub fn template(&self) -> String {
        match *self {
            DefaultValue::Template(value)
            | DefaultValue::Computed {
                template: value, ..
            } => value.to_string(),
            DefaultValue::Word(word) => word.to_owned(),
        }
    }
}

/// One tunable of the deployed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The flag (`--memory`) and the `mb.toml` key (`memory`).
    pub key: &'static str,
    /// The template parameter it sets.
    pub parameter: &'static str,
    /// What a create takes when the setting is not given.
    pub default: DefaultValue,
    pub allowed: Allowed,
    /// The unit, after the number (`MB`, `s`), or empty.
    pub unit: &'static str,
    /// What it changes, for `--help` and the docs.
    pub help: &'static str,
}

/// Lambda's retention choices for a log group, in days.
const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Every setting, in the order flags, `mb info` and the docs list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "memory",
        parameter: "MemorySize",
        default: DefaultValue::Template(256),
        allowed: Allowed::Range {
            min: 128,
            max: 10240,
        },
        unit: "MB",
        help: "Function memory; Lambda gives CPU in proportion to it",
    },
    Setting {
        key: "timeout",
        parameter: "Timeout",
        default: DefaultValue::Template(30),
        allowed: Allowed::Range { min: 1, max: 900 },
        unit: "s",
        help: "Function timeout; a broadcast still running near it (or near API Gateway's \
               29 s) hands the rest to another invocation",
    },
    Setting {
        key: "fanout-concurrency",
        parameter: "FanoutConcurrency",
        default: DefaultValue::Template(256),
        allowed: Allowed::Range { min: 1, max: 10000 },
        unit: "",
        help: "Management API posts in flight at once per broadcast",
    },
    Setting {
        key: "connect-grace",
        parameter: "ConnectGraceSeconds",
        default: DefaultValue::Template(mb_lambda::delivery::connect_window::DEFAULT_GRACE_SECONDS),
        allowed: Allowed::Range { min: 0, max: 300 },
        unit: "s",
        help: "A 410 Gone from a connection stored less than this long ago keeps its row: \
               the client may still be connecting (API Gateway's connect window)",
    },
    Setting {
        key: "throttle-rate",
        parameter: "ThrottlingRateLimit",
        default: DefaultValue::Template(100),
        allowed: Allowed::Range { min: 1, max: 10000 },
        unit: "messages/s",
        help: "Steady messages per second the API accepts (a cost cap; 10,000/s is the \
               account's own limit)",
    },
    Setting {
        key: "throttle-burst",
        parameter: "ThrottlingBurstLimit",
        default: DefaultValue::Template(50),
        allowed: Allowed::Range { min: 1, max: 5000 },
        unit: "messages",
        help: "Messages the API accepts in a burst above the rate (0 would refuse every \
               message, so at least 1)",
    },
    Setting {
        key: "log-retention",
        parameter: "LogRetentionInDays",
        default: DefaultValue::Template(14),
        allowed: Allowed::OneOf(RETENTION_DAYS),
        unit: "days",
        help: "Days CloudWatch Logs keeps the function's logs",
    },
    Setting {
        key: "reserved-concurrency",
        parameter: "ReservedConcurrency",
        default: DefaultValue::Computed {
            template: 0,
            how: crate::concurrency::DEFAULT_HOW,
        },
        allowed: Allowed::Range {
            min: 0,
            max: crate::concurrency::MAX_RESERVATION,
        },
        unit: "",
        help: "Concurrent invocations reserved for the function, which are also the most it \
               runs at once: it cannot starve the account's other functions, nor they it \
               (0: no reservation; the account must keep 100 unreserved)",
    },
    Setting {
        key: "auth",
        parameter: "Auth",
        default: DefaultValue::Word("none"),
        allowed: Allowed::Choice(&["none", "jwt"]),
        unit: "",
        help: "Who may connect: none (anyone who has the URL) or jwt (a token in \
               `?token=`, checked by a Lambda authorizer on every connect; docs/security.md)",
    },
    Setting {
        key: "jwks-url",
        parameter: "JwksUrl",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::HttpsUrl),
        unit: "",
        help: "With jwt: an issuer's key set (Cognito, Auth0), whose RS256/ES256 tokens \
               are accepted; without it, HS256 tokens signed with a secret the stack \
               generates in Secrets Manager (`mb token`)",
    },
    Setting {
        key: "issuer",
        parameter: "JwtIssuer",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::Claim),
        unit: "",
        help: "With jwt: the `iss` a token must have (a token without one is refused); \
               required with jwks-url (empty: not checked)",
    },
    Setting {
        key: "audience",
        parameter: "JwtAudience",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::Claim),
        unit: "",
        help: "With jwt: the `aud` a token must have (a token without one is refused, \
               and Cognito access tokens have none: docs/security.md; empty: not checked)",
    },
    Setting {
        key: "allow-origin",
        parameter: "AllowedOrigins",
        default: DefaultValue::Word(""),
        allowed: Allowed::List(Check::Origin),
        unit: "",
        help: "A browser origin a handshake may come from (repeatable; none: any); stops \
               other sites' pages, not programs, which send any Origin they like",
    },
    Setting {
        key: "max-messages-per-second",
        parameter: "MaxMessagesPerSecond",
        default: DefaultValue::Template(0),
        allowed: Allowed::Range { min: 0, max: 10000 },
        unit: "messages/s",
        help: "Messages one connection may send per second, counted in the table (one \
               UpdateItem per message; 0: no limit); the excess gets an error frame",
    },
];

/// The setting with this key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

impl Allowed {
    /// The allowed values in words: `from 128 to 10240`, `one of 1, 3, 5`.
    pub fn describe(&self) -> String {
        match self {
            Allowed::Choice(words) => format!("one of {}", words.join(", ")),
            Allowed::Text(check) => format!("{}, or empty", check.describe()),
            Allowed::List(check) => check.describe().to_owned(),
            Allowed::Range { min, max } => format!("from {min} to {max}"),
            Allowed::OneOf(values) => format!(
                "one of {}",
                values
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn admits(&self, value: u32) -> bool {
        match self {
            Allowed::Range { min, max } => (*min..=*max).contains(&value),
            Allowed::OneOf(values) => values.contains(&value),
            Allowed::Choice(_) | Allowed::Text(_) | Allowed::List(_) => false,
        }
    }

    /// Whether the values are whole numbers.
    pub fn is_number(&self) -> bool {
        matches!(self, Allowed::Range { .. } | Allowed::OneOf(_))
    }
}

impl Setting {
    /// `value` checked against the allowed values; the error names the setting, the
    /// allowed values and the unit.
    pub fn check(&self, value: i64) -> Result<u32, String> {
        match u32::try_from(value) {
            Ok(value) if self.allowed.admits(value) => Ok(value),
            _ => Err(format!(
                "{} {value} is not allowed: {} is {}{}",
                self.key,
                self.key,
                self.allowed.describe(),
                self.unit_suffix()
            )),
        }
    }

    /// A flag's text as a value (`512`), checked.
    pub fn parse(&self, text: &str) -> Result<u32, String> {
        let value: i64 = text.trim().parse().map_err(|_| {
            format!(
                "`{text}` is not a whole number: {} is {}{}",
                self.key,
                self.allowed.describe(),
                self.unit_suffix()
            )
        })?;
        self.check(value)
    }

    /// A text value (a word, a text, one entry of a list), checked: the value, or
    /// why it is wrong, naming the setting and what it allows.
    pub fn parse_text(&self, text: &str) -> Result<String, String> {
        let checked = match self.allowed {
            Allowed::Choice(words) => words
                .iter()
                .find(|w| **w == text.trim())
                .map(|w| (*w).to_owned())
                .ok_or_else(|| format!("`{text}` is not one of them")),
            Allowed::Text(_) | Allowed::List(_) if text.trim().is_empty() => Ok(String::new()),
            Allowed::Text(check) | Allowed::List(check) => check.check(text),
            Allowed::Range { .. } | Allowed::OneOf(_) => {
                return self.parse(text).map(|n| n.to_string());
            }
        };
        checked.map_err(|why| {
            format!(
                "{} {why}: {} is {}",
                self.key,
                self.key,
                self.allowed.describe()
            )
        })
    }

    /// A list's entries, checked; empty entries are dropped (so `--allow-origin ''`
    /// alone clears the list).
    pub fn parse_list<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for entry in entries {
            let checked = self.parse_text(entry)?;
            if !checked.is_empty() && !out.contains(&checked) {
                out.push(checked);
            }
        }
        Ok(out)
    }

    /// The default in words: `256 MB`, or how a computed one is worked out.
    pub fn describe_default(&self) -> String {
        match self.default {
            DefaultValue::Template(value) => self.show(&value.to_string()),
            DefaultValue::Computed { how, .. } => how.to_owned(),
            DefaultValue::Word(word) => self.show(word),
        }
    }

    /// `512 MB`, `100 messages/s`, `256`; a text not set is `not set`.
    pub fn show(&self, value: &str) -> String {
        if value.is_empty() {
            "not set".to_owned()
        } else if self.unit.is_empty() {
            value.to_owned()
        } else {
            format!("{value} {}", self.unit)
        }
    }

    fn unit_suffix(&self) -> String {
        if self.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.unit)
        }
    }
}

/// Settings given for a deploy (by flag or `mb.toml`), by key; absent keys were not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(BTreeMap<&'static str, Value>);

impl Settings {
    /// A number setting's value, if given.
    pub fn get(&self, key: &str) -> Option<u32> {
        match self.0.get(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// Any setting's value, if given.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn set(&mut self, setting: &'static Setting, value: u32) {
        self.0.insert(setting.key, Value::Number(value));
    }

    pub fn set_value(&mut self, setting: &'static Setting, value: Value) {
        self.0.insert(setting.key, value);
    }

    /// These settings, with `lower`'s where these have none (flags over the file).
    pub fn over(mut self, lower: &Settings) -> Settings {
        for (key, value) in &lower.0 {
            self.0.entry(key).or_insert_with(|| value.clone());
        }
        self
    }

    /// What each template parameter gets in this deploy: the value given; else, on an
    /// update of a stack that has the parameter, its deployed value; else the value
    /// `computed` has for it (a computed default); else nothing (the template's default).
    /// `deployed` lists the stack's parameter keys (none on a create).
    pub fn parameters(
        &self,
        deployed: &[&str],
        computed: &Settings,
    ) -> Vec<(String, ParameterValue)> {
        SETTINGS
            .iter()
            .filter_map(|s| {
                let value = match self.value(s.key) {
                    Some(value) => ParameterValue::Given(value.parameter()),
                    None if deployed.contains(&s.parameter) => ParameterValue::Previous,
                    None => ParameterValue::Given(computed.value(s.key)?.parameter()),
                };
                Some((s.parameter.to_owned(), value))
            })
            .collect()
    }
}

/// The deployed settings of a stack, from its parameters: (setting, value as deployed).
pub fn deployed(parameters: &[(String, String)]) -> Vec<(&'static Setting, &str)> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            parameters
                .iter()
                .find(|(k, _)| k == s.parameter)
                .map(|(_, v)| (s, v.as_str()))
        })
        .collect()
}

/// Refuses access settings that would accept tokens from applications other than yours
/// (pure): `auth` jwt with a key set (`jwks-url`) and no `issuer`. A key set is often
/// shared (a Cognito user pool's keys sign for every app client, an Auth0 tenant's for
/// every application), so its tokens must at least be checked for their issuer. Each
/// setting is taken as given, else as `deployed` (the stack's parameters; none on a
/// create), else at its default. The error is a usage error's sentence, naming the fix.
pub fn key_set_needs_issuer(given: &Settings, deployed: &[(String, String)]) -> Result<(), String> {
    let effective = |key: &str| effective(given, deployed, key);
    let is_set = |key: &str| !effective(key).trim().is_empty();
    if effective("auth").trim() == "jwt" && is_set("jwks-url") && !is_set("issuer") {
        return Err(
            "jwks-url is set without an issuer, so tokens the key set signs for any other \
             application would be accepted: add --issuer with the `iss` its tokens carry \
             (Cognito: https://cognito-idp.REGION.amazonaws.com/POOL_ID; docs/security.md)"
                .to_owned(),
        );
    }
    Ok(())
}

/// The value a setting will have as a parameter: given, else deployed, else its default.
fn effective(given: &Settings, deployed: &[(String, String)], key: &str) -> String {
    let Some(setting) = find(key) else {
        return String::new();
    };
    match given.value(key) {
        Some(value) => value.parameter(),
        None => deployed
            .iter()
            .find(|(k, _)| k == setting.parameter)
            .map_or_else(|| setting.default.template(), |(_, v)| v.clone()),
    }
}

/// Whether the stack will have the HS256 token secret: tokens required and no key set
/// (the template's `Hs256` condition), so whether its name must be free (pure).
pub fn creates_token_secret(given: &Settings, deployed: &[(String, String)]) -> bool {
    effective(given, deployed, "auth").trim() == "jwt"
        && effective(given, deployed, "jwks-url").trim().is_empty()
}

/// The settings flags of `mb deploy`, one per row of [`SETTINGS`].
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    pub given: Settings,
}

impl FromArgMatches for SettingsArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Settings::default();
        for setting in SETTINGS {
            match setting.allowed {
                Allowed::Range { .. } | Allowed::OneOf(_) => {
                    if let Some(value) = matches.get_one::<u32>(setting.key) {
                        given.set(setting, *value);
                    }
                }
                Allowed::Choice(_) | Allowed::Text(_) => {
                    if let Some(value) = matches.get_one::<String>(setting.key) {
                        given.set_value(setting, Value::Text(value.clone()));
                    }
                }
                Allowed::List(_) => {
                    if let Some(values) = matches.get_many::<String>(setting.key) {
                        let entries = values.filter(|v| !v.is_empty()).cloned().collect();
                        given.set_value(setting, Value::List(entries));
                    }
                }
            }
        }
        Ok(SettingsArgs { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingsArgs {
    fn augment_args(mut command: clap::Command) -> clap::Command {
        for setting in SETTINGS {
            let unit = if setting.unit.is_empty() {
                String::new()
            } else {
                format!(", {}", setting.unit)
            };
            let arg = Arg::new(setting.key)
                .long(setting.key)
                .help_heading("Settings (kept on later deploys until changed)")
                .help(format!(
                    "{} ({}{unit}; default {})",
                    setting.help,
                    setting.allowed.describe(),
                    setting.describe_default()
                ));
            let arg = match setting.allowed {
                Allowed::Range { .. } | Allowed::OneOf(_) => arg
                    .value_name("N")
                    .value_parser(move |text: &str| setting.parse(text)),
                Allowed::Choice(_) => arg
                    .value_name("WORD")
                    .value_parser(move |text: &str| setting.parse_text(text)),
                Allowed::Text(check) => arg
                    .value_name(check.value_name())
                    .value_parser(move |text: &str| setting.parse_text(text)),
                Allowed::List(check) => arg
                    .value_name(check.value_name())
                    .action(clap::ArgAction::Append)
                    .value_parser(move |text: &str| setting.parse_text(text)),
            };
            command = command.arg(arg);
        }
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// The settings table of docs/deploy.md (pure), which a test compares with the document.
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::from(
        "| Flag / `mb.toml` key | Template parameter | Default | Allowed | What it sets |\n\
         |---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let allowed = match s.allowed {
            Allowed::Range { min, max } => format!("{min} to {max}"),
            Allowed::List(check) => {
                format!("{} (repeatable; a list in `mb.toml`)", check.describe())
            }
            _ => s.allowed.describe(),
        };
        out.push_str(&format!(
            "| `--{}` / `{}` | `{}` | {} | {allowed} | {} |\n",
            s.key,
            s.key,
            s.parameter,
            s.describe_default(),
            s.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_secret_is_created_with_jwt_and_no_key_set() {
        let auth = find("auth").unwrap();
        let jwks = find("jwks-url").unwrap();
        let mut given = Settings::default();
        assert!(
            !creates_token_secret(&given, &[]),
            "auth is none by default"
        );
        given.set_value(auth, Value::Text("jwt".into()));
        assert!(creates_token_secret(&given, &[]));
        given.set_value(jwks, Value::Text("https://issuer.example/jwks.json".into()));
        assert!(!creates_token_secret(&given, &[]));
        let deployed = vec![("Auth".to_owned(), "jwt".to_owned())];
        assert!(creates_token_secret(&Settings::default(), &deployed));
    }

    #[test]
    fn a_value_out_of_range_names_the_setting_and_the_range() {
        let memory = find("memory").unwrap();
        assert_eq!(memory.parse("512"), Ok(512));
        assert_eq!(
            memory.parse("64").unwrap_err(),
            "memory 64 is not allowed: memory is from 128 to 10240 (MB)"
        );
        assert_eq!(
            memory.parse("lots").unwrap_err(),
            "`lots` is not a whole number: memory is from 128 to 10240 (MB)"
        );
        assert!(memory.check(-1).is_err());
        let burst = find("throttle-burst").unwrap();
        assert!(burst.parse("0").unwrap_err().contains("from 1 to 5000"));
        let retention = find("log-retention").unwrap();
        assert_eq!(retention.parse("30"), Ok(30));
        assert!(
            retention
                .parse("31")
                .unwrap_err()
                .contains("one of 1, 3, 5")
        );
    }

    #[test]
    fn every_default_is_allowed() {
        for s in SETTINGS {
            let default = s.default.template();
            assert_eq!(s.parse_text(&default), Ok(default.clone()), "{}", s.key);
        }
    }

    #[test]
    fn text_settings_are_checked() {
        let auth = find("auth").unwrap();
        assert_eq!(auth.parse_text("jwt"), Ok("jwt".into()));
        assert_eq!(
            auth.parse_text("yes").unwrap_err(),
            "auth `yes` is not one of them: auth is one of none, jwt"
        );
        let jwks = find("jwks-url").unwrap();
        assert!(jwks.parse_text("https://idp.example/keys.json").is_ok());
        assert_eq!(jwks.parse_text(""), Ok(String::new()));
        assert!(
            jwks.parse_text("http://idp.example/keys")
                .unwrap_err()
                .contains("not an https:// URL")
        );
        assert!(jwks.parse_text("https://").is_err());
        let issuer = find("issuer").unwrap();
        assert!(issuer.parse_text("a,b").is_err());
        let origin = find("allow-origin").unwrap();
        assert_eq!(
            origin.parse_list([
                "https://a.example/",
                "https://a.example",
                "",
                "http://b:8080"
            ]),
            Ok(vec!["https://a.example".into(), "http://b:8080".into()])
        );
        assert!(
            origin
                .parse_list(["https://a.example/app"])
                .unwrap_err()
                .starts_with("allow-origin origin")
        );
        let rate = find("max-messages-per-second").unwrap();
        assert_eq!(rate.parse("0"), Ok(0));
        assert!(rate.parse("10001").is_err());
    }

    #[test]
    fn text_flags_and_lists_become_parameters() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        let cli = Cli::try_parse_from([
            "mb",
            "--auth",
            "jwt",
            "--allow-origin",
            "https://a.example",
            "--allow-origin",
            "https://b.example",
            "--issuer",
            "https://idp",
        ])
        .unwrap();
        let parameters = cli
            .settings
            .given
            .parameters(&["Auth", "JwksUrl"], &Settings::default());
        assert_eq!(
            parameters,
            vec![
                ("Auth".into(), ParameterValue::Given("jwt".into())),
                ("JwksUrl".into(), ParameterValue::Previous),
                (
                    "JwtIssuer".into(),
                    ParameterValue::Given("https://idp".into())
                ),
                (
                    "AllowedOrigins".into(),
                    ParameterValue::Given("https://a.example,https://b.example".into())
                ),
            ]
        );
        let cleared = Cli::try_parse_from(["mb", "--allow-origin", ""]).unwrap();
        assert_eq!(
            cleared.settings.given.value("allow-origin"),
            Some(&Value::List(vec![]))
        );
        for bad in [
            &["mb", "--auth", "maybe"][..],
            &["mb", "--allow-origin", "evil.example"],
            &["mb", "--jwks-url", "ftp://x"],
        ] {
            assert_eq!(
                Cli::try_parse_from(bad).unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_key_set_needs_an_issuer_given_or_deployed() {
        let text = |pairs: &[(&str, &str)]| {
            let mut given = Settings::default();
            for (key, value) in pairs {
                given.set_value(find(key).unwrap(), Value::Text((*value).into()));
            }
            given
        };
        let stack = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let keys = [("auth", "jwt"), ("jwks-url", "https://idp/keys")];
        // A create with a key set and no issuer is refused, naming the fix.
        let refused = key_set_needs_issuer(&text(&keys), &[]).unwrap_err();
        assert!(refused.contains("add --issuer"), "{refused}");
        assert!(
            key_set_needs_issuer(&text(&[keys[0], keys[1], ("issuer", "https://idp")]), &[])
                .is_ok()
        );
        // The issuer (or the key set) deployed counts; a value given wins over it.
        let deployed = stack(&[("Auth", "jwt"), ("JwksUrl", "https://idp/keys")]);
        assert!(key_set_needs_issuer(&Settings::default(), &deployed).is_err());
        assert!(key_set_needs_issuer(&text(&[("issuer", "https://idp")]), &deployed).is_ok());
        let with_issuer = stack(&[
            ("Auth", "jwt"),
            ("JwksUrl", "https://idp/keys"),
            ("JwtIssuer", "https://idp"),
        ]);
        assert!(key_set_needs_issuer(&Settings::default(), &with_issuer).is_ok());
        assert!(key_set_needs_issuer(&text(&[("issuer", "")]), &with_issuer).is_err());
        assert!(key_set_needs_issuer(&text(&keys[1..]), &with_issuer).is_ok());
        // Clearing the key set (HS256 then) or the tokens lifts it.
        assert!(key_set_needs_issuer(&text(&[("jwks-url", "")]), &deployed).is_ok());
        assert!(key_set_needs_issuer(&text(&[("auth", "none")]), &deployed).is_ok());
        assert!(key_set_needs_issuer(&text(&[("auth", "jwt")]), &[]).is_ok());
        assert!(key_set_needs_issuer(&Settings::default(), &[]).is_ok());
    }

    #[test]
    fn flags_win_over_the_file() {
        let memory = find("memory").unwrap();
        let timeout = find("timeout").unwrap();
        let mut flags = Settings::default();
        flags.set(memory, 768);
        let mut file = Settings::default();
        file.set(memory, 1024);
        file.set(timeout, 20);
        let merged = flags.over(&file);
        assert_eq!(merged.get("memory"), Some(768));
        assert_eq!(merged.get("timeout"), Some(20));
    }

    #[test]
    fn an_update_keeps_what_is_not_given_and_a_create_takes_the_default() {
        let mut given = Settings::default();
        given.set(find("memory").unwrap(), 512);
        // An update of a stack deployed with every parameter but the retention (an older
        // template): given values, the deployed ones kept, the new one left to its default.
        let deployed = [
            "ArtifactKey",
            "MemorySize",
            "Timeout",
            "FanoutConcurrency",
            "ThrottlingRateLimit",
            "ThrottlingBurstLimit",
        ];
        let update = given.parameters(&deployed, &Settings::default());
        assert_eq!(
            update,
            vec![
                ("MemorySize".into(), ParameterValue::Given("512".into())),
                ("Timeout".into(), ParameterValue::Previous),
                ("FanoutConcurrency".into(), ParameterValue::Previous),
                ("ThrottlingRateLimit".into(), ParameterValue::Previous),
                ("ThrottlingBurstLimit".into(), ParameterValue::Previous),
            ]
        );
        let create = given.parameters(&[], &Settings::default());
        assert_eq!(
            create,
            vec![("MemorySize".into(), ParameterValue::Given("512".into()))]
        );
    }

    /// A computed default is passed where a template default would be left out: on a
    /// create, and on an update of a stack deployed before the parameter existed. A
    /// stack that has it keeps it; a value given wins.
    #[test]
    fn a_computed_default_is_passed_unless_deployed_or_given() {
        let reserved = find("reserved-concurrency").unwrap();
        assert!(matches!(reserved.default, DefaultValue::Computed { .. }));
        let mut computed = Settings::default();
        computed.set(reserved, 100);
        let row = |value: ParameterValue| vec![("ReservedConcurrency".to_owned(), value)];
        let nothing = Settings::default();
        assert_eq!(
            nothing.parameters(&[], &computed),
            row(ParameterValue::Given("100".into()))
        );
        assert_eq!(
            nothing.parameters(&["ArtifactKey"], &computed),
            row(ParameterValue::Given("100".into()))
        );
        assert_eq!(
            nothing.parameters(&["ReservedConcurrency"], &computed),
            row(ParameterValue::Previous)
        );
        let mut given = Settings::default();
        given.set(reserved, 5);
        assert_eq!(
            given.parameters(&["ReservedConcurrency"], &computed),
            row(ParameterValue::Given("5".into()))
        );
        // The help and the docs say how it is computed.
        assert_eq!(reserved.describe_default(), crate::concurrency::DEFAULT_HOW);
        assert_eq!(find("memory").unwrap().describe_default(), "256 MB");
    }

    #[test]
    fn the_flags_come_from_the_table() {
        use clap::{CommandFactory, Parser};
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        let cli = Cli::try_parse_from(["mb", "--memory", "512", "--log-retention", "30"]).unwrap();
        assert_eq!(cli.settings.given.get("memory"), Some(512));
        assert_eq!(cli.settings.given.get("log-retention"), Some(30));
        assert_eq!(cli.settings.given.get("timeout"), None);
        let err = Cli::try_parse_from(["mb", "--memory", "64"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("from 128 to 10240"), "{err}");
        let help = Cli::command().render_long_help().to_string();
        for s in SETTINGS {
            assert!(help.contains(&format!("--{}", s.key)), "{help}");
        }
    }

    /// The template declares each setting's parameter with the same default and the same
    /// allowed values.
    #[test]
    fn the_template_agrees_with_the_table() {
        let template: serde_yaml::Value =
            serde_yaml::from_str(&crate::template::SOURCE.replace("!mb ", "")).unwrap();
        for s in SETTINGS {
            let p = &template["Parameters"][s.parameter];
            if !s.allowed.is_number() {
                assert_eq!(p["Type"], "String", "{}", s.parameter);
                assert_eq!(
                    p["Default"].as_str(),
                    Some(s.default.template().as_str()),
                    "{}",
                    s.key
                );
                if let Allowed::Choice(words) = s.allowed {
                    let listed: Vec<&str> = p["AllowedValues"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .filter_map(serde_yaml::Value::as_str)
                        .collect();
                    assert_eq!(listed, words, "{}", s.key);
                }
                continue;
            }
            assert_eq!(p["Type"], "Number", "{}", s.parameter);
            assert_eq!(
                p["Default"].as_u64().map(|d| d.to_string()),
                Some(s.default.template()),
                "{}",
                s.key
            );
            match s.allowed {
                Allowed::Range { min, max } => {
                    assert_eq!(p["MinValue"].as_u64(), Some(u64::from(min)), "{}", s.key);
                    assert_eq!(p["MaxValue"].as_u64(), Some(u64::from(max)), "{}", s.key);
                }
                Allowed::OneOf(values) => {
                    let listed: Vec<u64> = p["AllowedValues"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .filter_map(serde_yaml::Value::as_u64)
                        .collect();
                    let values: Vec<u64> = values.iter().map(|v| u64::from(*v)).collect();
                    assert_eq!(listed, values, "{}", s.key);
                }
                Allowed::Choice(_) | Allowed::Text(_) | Allowed::List(_) => {}
            }
        }
    }

    /// docs/deploy.md shows this table. `MB_UPDATE_DOCS=1 cargo test -p mb settings`
    /// rewrites it.
    #[test]
    fn the_documentation_shows_this_table() {
        crate::docs::assert_generated(
            "docs/deploy.md",
            "settings",
            "cli/src/settings.rs",
            &markdown(),
        );
    }
}
