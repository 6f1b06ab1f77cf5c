//! What a setting is: its key, flag, template parameter, allowed values, default and
//! unit, and how a given value is checked and shown.

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
    pub(super) fn value_name(self) -> &'static str {
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

    pub(super) fn admits(&self, value: u32) -> bool {
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

    pub(super) fn unit_suffix(&self) -> String {
        if self.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.unit)
        }
    }
}

/// Properties of the settings' value parsers (flags and `mb.toml`), over generated input,
/// for every setting of the table. `PROPTEST_CASES` sets how many cases each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::settings::SETTINGS;
    use proptest::prelude::*;

    fn setting() -> impl Strategy<Value = &'static Setting> {
        prop::sample::select(SETTINGS.iter().collect::<Vec<_>>())
    }

    /// Values: numbers, words, URLs, origins, claims, padded or not, and any text.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => any::<i64>().prop_map(|n| n.to_string()),
            1 => (0u32..11_000).prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["none", "jwt", "JWT", " jwt ", "", "  "]).prop_map(str::to_owned),
            2 => "[ \t]{0,1}https?://[a-z.:0-9]{0,12}(/[a-z?#,]{0,6})?/?[ \n]{0,1}",
            1 => "[a-zA-Z0-9:/ ,.\t\u{7}-]{0,20}",
            1 => any::<String>(),
        ]
    }

    /// The allowed values of a number setting, from the table, as an oracle.
    fn allows(allowed: Allowed, n: i64) -> bool {
        match allowed {
            Allowed::Range { min, max } => (i64::from(min)..=i64::from(max)).contains(&n),
            Allowed::OneOf(values) => values.iter().any(|v| i64::from(*v) == n),
            _ => false,
        }
    }

    proptest! {
        /// A number setting takes a whole number (around white space) that it allows and
        /// nothing else; every refusal names the setting.
        #[test]
        fn a_number_setting_takes_exactly_its_allowed_numbers(
            setting in setting(),
            n in prop_oneof![any::<i64>(), 0i64..11_000],
            pad in "[ \t]{0,2}",
            other in text(),
        ) {
            if !setting.allowed.is_number() {
                return Ok(());
            }
            let expected = allows(setting.allowed, n).then(|| u32::try_from(n).unwrap());
            prop_assert_eq!(setting.check(n).ok(), expected);
            prop_assert_eq!(setting.parse(&format!("{pad}{n}{pad}")).ok(), expected);
            prop_assert_eq!(setting.parse_text(&n.to_string()).ok(), expected.map(|v| v.to_string()));
            match setting.parse(&other) {
                Ok(value) => prop_assert_eq!(other.trim().parse::<i64>().ok(), Some(i64::from(value))),
                Err(why) => prop_assert!(why.contains(setting.key), "{}", why),
            }
        }

        /// A word, text or list entry is checked by its setting's rule: a choice is one of
        /// its words; an empty text clears; a URL is https:// with a host, no white space
        /// and no comma; a claim has no comma or control character; an origin has no
        /// comma either, so a list always comma-joins and splits back.
        #[test]
        fn a_text_setting_takes_what_its_check_allows(setting in setting(), value in text()) {
            let parsed = setting.parse_text(&value);
            let trimmed = value.trim();
            if let Err(why) = &parsed {
                prop_assert!(why.contains(setting.key), "{}", why);
            }
            match setting.allowed {
                Allowed::Range { .. } | Allowed::OneOf(_) => {
                    prop_assert_eq!(parsed, setting.parse(&value).map(|n| n.to_string()));
                }
                Allowed::Choice(words) => {
                    let expected = words.contains(&trimmed).then(|| trimmed.to_owned());
                    prop_assert_eq!(parsed.ok(), expected);
                }
                Allowed::Text(check) | Allowed::List(check) => {
                    if trimmed.is_empty() {
                        prop_assert_eq!(parsed, Ok(String::new()));
                        return Ok(());
                    }
                    let fits = trimmed.len() <= 1024;
                    let no_comma = !trimmed.contains(',');
                    match check {
                        Check::HttpsUrl => {
                            let host = trimmed
                                .strip_prefix("https://")
                                .and_then(|rest| rest.split(['/', '?', '#']).next())
                                .unwrap_or_default();
                            let ok = fits && !host.is_empty() && no_comma && !trimmed.contains(char::is_whitespace);
                            prop_assert_eq!(parsed.is_ok(), ok, "{:?}", value);
                            if ok {
                                prop_assert_eq!(&parsed, &Ok(trimmed.to_owned()));
                            }
                        }
                        Check::Claim => {
                            let ok = fits && no_comma && !trimmed.contains(char::is_control);
                            prop_assert_eq!(parsed.is_ok(), ok, "{:?}", value);
                            if ok {
                                prop_assert_eq!(&parsed, &Ok(trimmed.to_owned()));
                            }
                        }
                        Check::Origin => {
                            if let Ok(origin) = &parsed {
                                prop_assert!(!origin.contains(',') && !origin.ends_with('/'), "{}", origin);
                                prop_assert!(origin.starts_with("https://") || origin.starts_with("http://"));
                                let again = setting.parse_text(origin);
                                prop_assert_eq!(again.as_ref(), Ok(origin));
                            }
                        }
                    }
                    if let Ok(kept) = parsed {
                        prop_assert_eq!(Value::Text(kept.clone()).parameter(), kept);
                    }
                }
            }
        }

        /// A list is its entries checked, empty ones dropped and repeats kept once, in
        /// order; one bad entry refuses it all. Its parameter splits back into it.
        #[test]
        fn a_list_is_its_checked_entries_once_each(
            entries in prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(vec![
                        "https://a.example", "https://a.example/", "http://b:8080", " https://c ", "",
                    ]).prop_map(str::to_owned),
                    1 => text(),
                ],
                0..6,
            ),
        ) {
            for setting in SETTINGS.iter().filter(|s| matches!(s.allowed, Allowed::List(_))) {
                let got = setting.parse_list(entries.iter().map(String::as_str));
                let checked: Result<Vec<String>, String> =
                    entries.iter().map(|e| setting.parse_text(e)).collect();
                match checked {
                    Err(first) => prop_assert_eq!(got, Err(first)),
                    Ok(all) => {
                        let mut expected: Vec<String> = Vec::new();
                        for entry in all {
                            if !entry.is_empty() && !expected.contains(&entry) {
                                expected.push(entry);
                            }
                        }
                        let parameter = Value::List(expected.clone()).parameter();
                        if !expected.is_empty() {
                            prop_assert_eq!(parameter.split(',').collect::<Vec<_>>(), expected.clone());
                        } else {
                            prop_assert_eq!(parameter, "");
                        }
                        prop_assert_eq!(got, Ok(expected));
                    }
                }
            }
        }
    }
}
