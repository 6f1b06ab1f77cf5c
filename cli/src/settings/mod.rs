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

mod list;
mod setting;

pub use list::{SETTINGS, find};
#[cfg(test)]
pub use setting::DefaultValue;
pub use setting::{Allowed, Setting, Value};

use crate::stack::ParameterValue;

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
        assert_eq!(find("memory").unwrap().describe_default(), "1769 MB");
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
