//! Service names and every AWS resource name `mb` derives from them (pure).
//!
//! A deploy that fails halfway because a derived name breaks some resource's rule leaves a
//! half-made stack behind, so every name is derived here, once, and checked against its
//! own rule before any AWS call. The rules are the table in docs/package.md ("Service
//! names and the names derived from them"), each cited where it is enforced.
//!
//! The user's part is deliberately narrower than any single rule: lowercase letters,
//! digits and hyphens, starting with a letter. Lowercase because IAM role names are unique
//! *ignoring case* (`Game` and `game` would collide on one role), no `_` or `.` because the
//! stack name allows neither.

use std::fmt;

mod rules;

pub use rules::{Rule, Violation};

/// Every derived name starts with this, so `mb`'s resources are recognisable in the
/// console and never collide with a user's own stack called `<service>-<stage>`.
const PREFIX: &str = "mb";

/// Why a name was refused. Each message names the offending character or the derived name
/// that overflows (and by how much), and suggests a fix when one is obvious.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The user's service or stage name itself breaks the rule.
    #[error("{what} `{value}` is not valid: {problem}{}", suggestion_text(.suggestion))]
    Invalid {
        what: &'static str,
        value: String,
        problem: String,
        suggestion: Option<String>,
    },
    /// A name derived from a valid service and stage is longer than its resource allows.
    #[error(
        "the {resource} `{name}` would be {len} characters, {over} over its limit of {limit}: {fix}"
    )]
    Overflow {
        resource: &'static str,
        name: String,
        len: usize,
        limit: usize,
        over: usize,
        fix: String,
    },
    /// A derived name breaks its resource's rule in another way (a region or account that
    /// does not look like one).
    #[error("the {resource} `{name}` is not valid: {problem}")]
    Derived {
        resource: &'static str,
        name: String,
        problem: String,
    },
}

/// To the user: a usage error (exit 2), in the error's own words.
impl From<NameError> for crate::error::Failure {
    fn from(err: NameError) -> Self {
        crate::error::Failure::usage(err.to_string())
    }
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(fixed) => format!(". Try `{fixed}`"),
        None => String::new(),
    }
}

/// A service name that every derived resource name can be built from: lowercase ASCII
/// letters, digits and hyphens, not starting or ending with a hyphen. (Length is checked
/// when names are derived, where the limit is known.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        check_label("service name", value, Label::Service)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stage name (`dev`, `prod`, `pr12`): the API Gateway stage, and part of every derived
/// name. Lowercase letters and digits only: with no hyphen in the stage, the last hyphen
/// of `mb-<service>-<stage>` always separates the two, so two different (service, stage)
/// pairs never share a name (`game-eu`/`dev` and `game`/`eu-dev` would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage(String);

impl Stage {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        check_label("stage", value, Label::Stage)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Stage {
    fn default() -> Self {
        Self("dev".to_owned())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region code such as `us-east-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);

impl Region {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = value.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts
                .last()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !well_formed {
            return Err(NameError::Invalid {
                what: "region",
                value: value.to_owned(),
                problem: "a region looks like `us-east-1` or `eu-central-2`".to_owned(),
                suggestion: None,
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every resource name of one deployed service, derived from (service, stage, region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub service: ServiceName,
    pub stage: Stage,
    pub region: Region,
    /// CloudFormation stack `mb-<service>-<stage>`.
    pub stack: String,
    /// DynamoDB table of connections and their rooms, `mb-<service>-<stage>-rooms`.
    /// (Before channels it was `-connections`, keyed by connection id alone:
    /// [`Names::previous_table`].)
    pub table: String,
    /// Lambda function `mb-<service>-<stage>-broadcast`.
    pub function: String,
    /// IAM role `mb-<service>-<stage>-<region>`: role names are account-wide, so the
    /// region keeps one service deployed in two regions from colliding.
    pub role: String,
    /// The function's own log group, `/aws/lambda/<function>`.
    pub log_group: String,
    /// API Gateway WebSocket API `mb-<service>-<stage>`.
    pub api: String,
    /// Secrets Manager secret `mb-<service>-<stage>-token-key`, the HS256 token key (with
    /// `--auth jwt` and no `--jwks-url`). Secrets are regional, so no region in it; not
    /// ending in a hyphen and six characters, which Secrets Manager's ARN suffix has.
    pub secret: String,
    /// SQS queue `mb-<service>-<stage>-lost`: the on-failure destination of the function's
    /// asynchronous invocations, where Lambda puts a continuation (the rest of a broadcast)
    /// that failed or timed out on every attempt, so that it is never dropped silently.
    pub lost_queue: String,
}

impl Names {
    /// Derives every name and checks each against its own rule. On overflow the error names
    /// the derived name that overflows most (fixing that one fixes all).
    pub fn derive(
        service: &ServiceName,
        stage: &Stage,
        region: &Region,
    ) -> Result<Self, NameError> {
        let base = format!("{PREFIX}-{service}-{stage}");
        let function = format!("{base}-broadcast");
        let names = Names {
            service: service.clone(),
            stage: stage.clone(),
            region: region.clone(),
            stack: base.clone(),
            table: format!("{base}-rooms"),
            log_group: format!("/aws/lambda/{function}"),
            role: format!("{base}-{region}"),
            secret: format!("{base}-token-key"),
            lost_queue: format!("{base}-lost"),
            api: base,
            function,
        };
        let mut worst: Option<(usize, Rule, &str)> = None;
        for (rule, name) in names.checked() {
            match rule.check(name) {
                Ok(()) => {}
                Err(Violation::TooLong { len, max }) => {
                    if worst.is_none_or(|(over, ..)| len - max > over) {
                        worst = Some((len - max, rule, name));
                    }
                }
                Err(other) => {
                    return Err(NameError::Derived {
                        resource: rule.resource(),
                        name: name.to_owned(),
                        problem: other.describe(rule),
                    });
                }
            }
        }
        match worst {
            None => Ok(names),
            Some((over, rule, name)) => {
                let max = rule.max_len();
                let service_max = service.as_str().len().saturating_sub(over);
                let fix = if service_max >= 1 {
                    format!(
                        "shorten the service name to {service_max} characters or fewer \
                         (or shorten the stage `{stage}`)"
                    )
                } else {
                    format!("shorten the stage `{stage}`")
                };
                Err(NameError::Overflow {
                    resource: rule.resource(),
                    name: name.to_owned(),
                    len: name.len(),
                    limit: max,
                    over,
                    fix,
                })
            }
        }
    }

    /// Each derived name with the rule it must pass.
    pub fn checked(&self) -> [(Rule, &str); 9] {
        [
            (Rule::Stack, &self.stack),
            (Rule::Secret, &self.secret),
            (Rule::Queue, &self.lost_queue),
            (Rule::Table, &self.table),
            (Rule::Function, &self.function),
            (Rule::Role, &self.role),
            (Rule::LogGroup, &self.log_group),
            (Rule::Api, &self.api),
            (Rule::ApiStage, self.stage.as_str()),
        ]
    }

    /// The connection table of a stack deployed before channels,
    /// `mb-<service>-<stage>-connections`: an update from that version deletes it (its
    /// key schema differs, so the rooms table is a new table).
    pub fn previous_table(&self) -> String {
        format!("{}-connections", self.stack)
    }

    /// The S3 key of an artifact: content-addressed, under this service and stage.
    pub fn artifact_key(&self, sha256_hex: &str) -> String {
        format!("{}{sha256_hex}.zip", self.artifact_prefix())
    }

    /// The S3 prefix of this service and stage's artifacts, `<service>/<stage>/`.
    pub fn artifact_prefix(&self) -> String {
        format!("{}/{}/", self.service, self.stage)
    }
}

/// The names of service `chat`, stage `dev` in `region`, for unit tests.
#[cfg(test)]
pub fn example(region: &str) -> Names {
    let derived = Names::derive(
        &ServiceName::parse("chat").expect("a valid service"),
        &Stage::parse("dev").expect("a valid stage"),
        &Region::parse(region).expect("a valid region"),
    );
    derived.expect("valid names")
}

/// The artifact bucket `mb-artifacts-<account>-<region>`. Bucket names are global, so the
/// account and region are part of it (and every S3 call checks the owner).
pub fn artifact_bucket(account: &str, region: &Region) -> Result<String, NameError> {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::Derived {
            resource: "artifact bucket",
            name: format!("{PREFIX}-artifacts-{account}-{region}"),
            problem: format!("the account id `{account}` is not 12 digits"),
        });
    }
    let name = format!("{PREFIX}-artifacts-{account}-{region}");
    check_derived(Rule::Bucket, &name)?;
    Ok(name)
}

/// The artifact bucket: `given` (`--bucket`), else the account's default.
pub fn bucket_or_default(
    given: Option<&str>,
    account: &str,
    region: &Region,
) -> Result<String, NameError> {
    match given {
        Some(bucket) => Ok(bucket.to_owned()),
        None => artifact_bucket(account, region),
    }
}

/// Checks an account id given by the user (`--account`): 12 digits.
pub fn check_account(account: &str) -> Result<(), NameError> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(NameError::Invalid {
        what: "account id",
        value: account.to_owned(),
        problem: "an AWS account id is 12 digits, such as `123456789012`".to_owned(),
        suggestion: None,
    })
}

/// Checks a bucket name given by the user (`--bucket`) against S3's rule.
pub fn check_bucket(name: &str) -> Result<(), NameError> {
    Rule::Bucket.check(name).map_err(|v| NameError::Invalid {
        what: "bucket name",
        value: name.to_owned(),
        problem: v.describe(Rule::Bucket),
        suggestion: None,
    })
}

fn check_derived(rule: Rule, name: &str) -> Result<(), NameError> {
    rule.check(name).map_err(|v| match v {
        Violation::TooLong { len, max } => NameError::Overflow {
            resource: rule.resource(),
            name: name.to_owned(),
            len,
            limit: max,
            over: len - max,
            fix: "use a shorter name".to_owned(),
        },
        other => NameError::Derived {
            resource: rule.resource(),
            name: name.to_owned(),
            problem: other.describe(rule),
        },
    })
}

/// The two parts of a name the user chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// `[a-z0-9-]`, no hyphen at either end.
    Service,
    /// `[a-z0-9]`.
    Stage,
}

/// The user's part of a name, non-empty (the stack rule's need for a leading letter is
/// met by the `mb-` prefix).
fn check_label(what: &'static str, value: &str, label: Label) -> Result<(), NameError> {
    match label_problem(value, label) {
        None => Ok(()),
        Some(problem) => Err(NameError::Invalid {
            what,
            value: value.to_owned(),
            problem,
            suggestion: suggest(value, label),
        }),
    }
}

/// What is wrong with `value` as a label, if anything.
fn label_problem(value: &str, label: Label) -> Option<String> {
    let Some(first) = value.chars().next() else {
        return Some("it is empty".to_owned());
    };
    for (position, ch) in value.chars().enumerate() {
        let position = position + 1;
        if ch.is_ascii_uppercase() {
            return Some(format!(
                "`{ch}` (character {position}) is uppercase; names are lowercase because IAM \
                 role names are unique ignoring case"
            ));
        }
        if ch == '-' && label == Label::Stage {
            return Some(format!(
                "`-` (character {position}) is not allowed in a stage; use lowercase letters \
                 and digits (a hyphen would let `game`/`eu-dev` and `game-eu`/`dev` share \
                 every resource name)"
            ));
        }
        if !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-') {
            let allowed = match label {
                Label::Service => "lowercase letters, digits and hyphens",
                Label::Stage => "lowercase letters and digits",
            };
            return Some(format!(
                "`{}` (character {position}) is not allowed; use {allowed}",
                ch.escape_debug()
            ));
        }
    }
    if first == '-' {
        return Some("it starts with `-`".to_owned());
    }
    if value.ends_with('-') {
        return Some("it ends with `-`".to_owned());
    }
    None
}

/// The obvious fix for a name, if there is one: lowercase it, turn `_`, `.` and spaces into
/// hyphens (for a stage: drop them and hyphens), squeeze repeated hyphens and trim them
/// from the ends. `None` when that does not give a valid name (say, `ünïcode`: what would
/// we pick?).
pub fn suggest(value: &str, label: Label) -> Option<String> {
    let mut fixed = String::with_capacity(value.len());
    for ch in value.trim().chars() {
        let ch = match ch {
            '_' | '.' | ' ' | '-' if label == Label::Stage => continue,
            '_' | '.' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        };
        if ch == '-' && (fixed.is_empty() || fixed.ends_with('-')) {
            continue;
        }
        fixed.push(ch);
    }
    while fixed.ends_with('-') {
        fixed.pop();
    }
    let valid = label_problem(&fixed, label).is_none();
    (valid && fixed != value).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    /// What a case expects: every name derived, or an error whose message contains all of
    /// these fragments.
    enum Expect {
        Ok,
        Err(&'static [&'static str]),
    }
    use Expect::{Err as Fails, Ok as Passes};

    fn derive(service: &str, stage: &str, region: &str) -> Result<Names, NameError> {
        let service = ServiceName::parse(service)?;
        let stage = Stage::parse(stage)?;
        let region = Region::parse(region)?;
        Names::derive(&service, &stage, &region)
    }

    // 64 - len("mb-") - len("-dev") - len("-broadcast"): the longest service for stage `dev`
    // in us-east-1. The role `mb-<s>-dev-us-east-1` has the same length there; on a tie the
    // error names the function, which comes first.
    const MAX_DEV_US_EAST_1: usize = 47;

    #[test]
    fn table_of_names() {
        let s47 = "a".repeat(MAX_DEV_US_EAST_1);
        let s48 = "a".repeat(MAX_DEV_US_EAST_1 + 1);
        let s60 = "s".repeat(60);
        let s42 = "b".repeat(42);
        let s43 = "b".repeat(43);
        let s300 = "x".repeat(300);
        let stage48 = "st".repeat(24);
        let stage61 = "p".repeat(61);
        let cases: Vec<(&str, &str, &str, Expect)> = vec![
            // Valid.
            ("broadcaster", "dev", "us-east-1", Passes),
            ("my-service", "dev", "us-east-1", Passes),
            ("a", "dev", "us-east-1", Passes),
            ("a1", "prod", "eu-west-2", Passes),
            ("1game", "dev", "us-east-1", Passes),
            ("game-2026", "pr12", "ap-southeast-2", Passes),
            // A hyphen in the stage would make names ambiguous.
            (
                "game",
                "eu-dev",
                "us-east-1",
                Fails(&["stage `eu-dev`", "`-`", "Try `eudev`"]),
            ),
            ("a--b", "dev", "us-east-1", Passes),
            ("x", "0", "us-east-1", Passes),
            ("chat", "dev", "us-gov-west-1", Passes),
            ("chat", "dev", "cn-north-1", Passes),
            // Boundary lengths: function and role names both reach 64 exactly.
            (&s47, "dev", "us-east-1", Passes),
            (
                &s48,
                "dev",
                "us-east-1",
                Fails(&[
                    "Lambda function name",
                    "65 characters",
                    "1 over",
                    "64",
                    "47 characters or fewer",
                ]),
            ),
            // A longer region leaves less room for the role (14 chars vs 9).
            (&s42, "dev", "ap-southeast-2", Passes),
            (
                &s43,
                "dev",
                "ap-southeast-2",
                Fails(&["IAM role name", "1 over"]),
            ),
            (
                &s60,
                "dev",
                "us-east-1",
                Fails(&[
                    "Lambda function name",
                    "77 characters",
                    "13 over its limit of 64",
                ]),
            ),
            (
                &s60,
                "dev",
                "eu-north-1",
                Fails(&["IAM role name", "14 over"]),
            ),
            (
                &s300,
                "dev",
                "us-east-1",
                Fails(&["253 over", "47 characters or fewer"]),
            ),
            // The stage counts too: a long stage leaves no room at all.
            ("a", &stage61, "us-east-1", Fails(&["shorten the stage"])),
            (&s47, "prod", "us-east-1", Fails(&["1 over"])),
            (
                "chat",
                &stage48,
                "us-east-1",
                Fails(&[
                    "Lambda function name",
                    "2 over",
                    "service name to 2 characters",
                ]),
            ),
            // Invalid characters, each named, with a suggestion when obvious.
            (
                "my_service",
                "dev",
                "us-east-1",
                Fails(&["`_`", "character 3", "Try `my-service`"]),
            ),
            (
                "my.service",
                "dev",
                "us-east-1",
                Fails(&["`.`", "Try `my-service`"]),
            ),
            (
                "my service",
                "dev",
                "us-east-1",
                Fails(&["` `", "Try `my-service`"]),
            ),
            (
                "MyService",
                "dev",
                "us-east-1",
                Fails(&["`M`", "uppercase", "Try `myservice`"]),
            ),
            (
                "my__service",
                "dev",
                "us-east-1",
                Fails(&["Try `my-service`"]),
            ),
            (
                "_private",
                "dev",
                "us-east-1",
                Fails(&["`_`", "Try `private`"]),
            ),
            (
                "game-",
                "dev",
                "us-east-1",
                Fails(&["ends with `-`", "Try `game`"]),
            ),
            (
                "-game",
                "dev",
                "us-east-1",
                Fails(&["starts with `-`", "Try `game`"]),
            ),
            ("", "dev", "us-east-1", Fails(&["empty"])),
            ("café", "dev", "us-east-1", Fails(&["`é`", "character 4"])),
            ("a/b", "dev", "us-east-1", Fails(&["`/`"])),
            ("a:b", "dev", "us-east-1", Fails(&["`:`"])),
            ("a\tb", "dev", "us-east-1", Fails(&["`\\t`"])),
            (
                "emoji🎮",
                "dev",
                "us-east-1",
                Fails(&["`🎮`", "character 6"]),
            ),
            ("a@b", "dev", "us-east-1", Fails(&["`@`"])),
            // Stages follow the same rule.
            (
                "chat",
                "Prod",
                "us-east-1",
                Fails(&["stage `Prod`", "uppercase", "Try `prod`"]),
            ),
            (
                "chat",
                "my_stage",
                "us-east-1",
                Fails(&["stage", "`_`", "Try `mystage`"]),
            ),
            ("chat", "", "us-east-1", Fails(&["stage", "empty"])),
            (
                "chat",
                "v1.2",
                "us-east-1",
                Fails(&["stage", "`.`", "Try `v12`"]),
            ),
            // Regions.
            ("chat", "dev", "useast1", Fails(&["region `useast1`"])),
            ("chat", "dev", "US-EAST-1", Fails(&["region"])),
            ("chat", "dev", "us-east-", Fails(&["region"])),
            ("chat", "dev", "", Fails(&["region"])),
        ];
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for (service, stage, region, expect) in cases {
            let got = derive(service, stage, region);
            match (expect, got) {
                (Passes, Ok(names)) => {
                    for ((what, rule), value) in documented_rules().iter().zip(values(&names)) {
                        assert!(rule.is_match(value), "{what} `{value}` breaks {rule}");
                    }
                }
                (Fails(fragments), Err(err)) => {
                    let message = err.to_string();
                    for fragment in fragments {
                        assert!(
                            message.contains(fragment),
                            "{service:?}/{stage:?}/{region:?}: {message:?} lacks {fragment:?}"
                        );
                    }
                }
                (Passes, Err(err)) => panic!("{service:?}/{stage:?}/{region:?} refused: {err}"),
                (Fails(_), Ok(names)) => panic!("{service:?}/{stage:?} accepted: {names:?}"),
            }
        }
    }

    #[test]
    fn derived_names_for_the_readme_example() {
        let names = derive("broadcaster", "dev", "us-east-1").unwrap();
        assert_eq!(names.stack, "mb-broadcaster-dev");
        assert_eq!(names.table, "mb-broadcaster-dev-rooms");
        assert_eq!(names.previous_table(), "mb-broadcaster-dev-connections");
        assert_eq!(names.secret, "mb-broadcaster-dev-token-key");
        assert_eq!(names.lost_queue, "mb-broadcaster-dev-lost");
        assert_eq!(names.function, "mb-broadcaster-dev-broadcast");
        assert_eq!(names.role, "mb-broadcaster-dev-us-east-1");
        assert_eq!(names.log_group, "/aws/lambda/mb-broadcaster-dev-broadcast");
        assert_eq!(names.api, "mb-broadcaster-dev");
        assert_eq!(names.artifact_key("ab12"), "broadcaster/dev/ab12.zip");
    }

    #[test]
    fn artifact_buckets() {
        let region = Region::parse("us-east-1").unwrap();
        assert_eq!(
            artifact_bucket("123456789012", &region).unwrap(),
            "mb-artifacts-123456789012-us-east-1"
        );
        let err = artifact_bucket("12345", &region).unwrap_err().to_string();
        assert!(err.contains("12 digits"), "{err}");
        let long = Region::parse("xx-abcdefghijklmnopqrstuvwxyzabcdefghij-1").unwrap();
        let err = artifact_bucket("123456789012", &long)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("S3 bucket name") && err.contains("over its limit of 63"),
            "{err}"
        );
    }

    #[test]
    fn user_buckets() {
        for ok in ["abc", "my.bucket-1", "a".repeat(63).as_str()] {
            assert_eq!(check_bucket(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ab", "fewer than 3"),
            ("My-Bucket", "`M`"),
            ("-abc", "start with `-`"),
            ("abc.", "end with `.`"),
            ("a..b", "`..`"),
            ("192.168.1.1", "IP address"),
            ("xn--abc", "start with"),
            ("sthree-abc", "start with"),
            ("amzn-s3-demo-abc", "start with"),
            ("abc-s3alias", "end with"),
            ("abc--ol-s3", "end with"),
            ("abc.mrap", "end with"),
            ("abc--x-s3", "end with"),
            ("abc--table-s3", "end with"),
            (&"a".repeat(64), "more than 63"),
        ] {
            let message = check_bucket(bad).unwrap_err().to_string();
            assert!(message.contains(why), "{bad}: {message}");
        }
    }

    #[test]
    fn suggestions_only_when_obvious() {
        let service = |raw| suggest(raw, Label::Service);
        assert_eq!(service("my_service").as_deref(), Some("my-service"));
        assert_eq!(service(" My Game ").as_deref(), Some("my-game"));
        assert_eq!(service("a_._b").as_deref(), Some("a-b"));
        assert_eq!(service("ok"), None, "already valid: nothing to suggest");
        assert_eq!(service("café"), None);
        assert_eq!(service("___"), None);
        assert_eq!(suggest("pr-12", Label::Stage).as_deref(), Some("pr12"));
        assert_eq!(suggest("Prod", Label::Stage).as_deref(), Some("prod"));
    }

    /// The rules as written in docs/package.md, as regular expressions: an oracle independent
    /// of `Rule::check`. Compiled once: the properties ask for them in every case.
    fn documented_rules() -> &'static [(&'static str, Regex)] {
        static RULES: std::sync::LazyLock<Vec<(&'static str, Regex)>> =
            std::sync::LazyLock::new(|| {
                let re = |p: &str| Regex::new(p).unwrap();
                vec![
                    ("stack", re(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")),
                    ("table", re(r"^[A-Za-z0-9_.-]{3,255}$")),
                    ("function", re(r"^[A-Za-z0-9_-]{1,64}$")),
                    ("role", re(r"^[\w+=,.@-]{1,64}$")),
                    ("log group", re(r"^[.\-_/#A-Za-z0-9]{1,512}$")),
                    ("api", re(r"^.{1,128}$")),
                    ("stage", re(r"^[A-Za-z0-9_-]{1,128}$")),
                ]
            });
        &RULES
    }

    /// The derived names in the order of [`documented_rules`].
    fn values(names: &Names) -> [&str; 7] {
        [
            &names.stack,
            &names.table,
            &names.function,
            &names.role,
            &names.log_group,
            &names.api,
            names.stage.as_str(),
        ]
    }

    /// Mostly near-valid names (so many are accepted), some anything-goes ones.
    fn services() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-z0-9-]{1,70}", 1 => "[a-zA-Z0-9_. -]{0,70}"]
    }

    fn stages() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-z0-9]{1,20}", 1 => "[a-zA-Z0-9_. -]{0,20}"]
    }

    proptest! {
        #[test]
        fn every_accepted_name_passes_every_rule(
            service in services(),
            stage in stages(),
            region in prop::sample::select(vec!["us-east-1", "eu-central-2", "ap-southeast-2", "us-gov-west-1"]),
        ) {
            if let Ok(names) = derive(&service, &stage, region) {
                for ((what, rule), value) in documented_rules().iter().zip(values(&names)) {
                    prop_assert!(rule.is_match(value), "{what} `{value}` breaks {rule}");
                }
                prop_assert_eq!(&names.log_group, &format!("/aws/lambda/{}", names.function));
            }
        }

        /// `mb-<x>-<y>-<z>` could be service `x-y` with stage `z`, or service `x` with stage
        /// `y-z`: at most one of the two may be accepted, or two services share every name.
        #[test]
        fn two_services_never_share_a_name(
            x in "[a-z][a-z0-9-]{0,8}[a-z0-9]",
            y in "[a-z0-9]{1,6}",
            z in "[a-z0-9]{1,6}",
        ) {
            let first = derive(&format!("{x}-{y}"), &z, "us-east-1");
            let second = derive(&x, &format!("{y}-{z}"), "us-east-1");
            prop_assert!(first.is_err() || second.is_err(), "{x}-{y}/{z} and {x}/{y}-{z}");
        }

        #[test]
        fn a_suggestion_is_always_accepted(raw in "[a-zA-Z0-9_. -]{0,30}") {
            if let Some(fixed) = suggest(&raw, Label::Service) {
                prop_assert!(ServiceName::parse(&fixed).is_ok(), "{raw:?} -> {fixed:?}");
            }
            if let Some(fixed) = suggest(&raw, Label::Stage) {
                prop_assert!(Stage::parse(&fixed).is_ok(), "{raw:?} -> {fixed:?}");
            }
        }

        #[test]
        fn accepted_names_are_exactly_the_lowercase_labels(raw in "[a-zA-Z0-9_. -]{1,30}") {
            prop_assert_eq!(ServiceName::parse(&raw).is_ok(), SERVICE.is_match(&raw));
            prop_assert_eq!(Stage::parse(&raw).is_ok(), STAGE.is_match(&raw));
        }

        /// Any text at all, as a service or a stage: accepted exactly when it is a
        /// lowercase label, and then kept as given; refused with a message quoting it,
        /// whose suggestion (if any) is itself accepted.
        #[test]
        fn a_service_or_stage_is_any_text_accepted_or_refused_with_why(raw in any_text()) {
            match ServiceName::parse(&raw) {
                Ok(service) => {
                    prop_assert!(SERVICE.is_match(&raw));
                    prop_assert_eq!(service.as_str(), &raw);
                    prop_assert_eq!(service.to_string(), raw.clone());
                }
                Err(err) => {
                    prop_assert!(!SERVICE.is_match(&raw));
                    refused_with_why(&err, "service name", &raw, |s| ServiceName::parse(s).is_ok())?;
                }
            }
            match Stage::parse(&raw) {
                Ok(stage) => {
                    prop_assert!(STAGE.is_match(&raw));
                    prop_assert_eq!(stage.as_str(), &raw);
                    prop_assert_eq!(stage.to_string(), raw.clone());
                }
                Err(err) => {
                    prop_assert!(!STAGE.is_match(&raw));
                    refused_with_why(&err, "stage", &raw, |s| Stage::parse(s).is_ok())?;
                }
            }
        }

        /// A region is accepted exactly when it looks like `us-east-1` or
        /// `us-gov-west-1`: two letters, lowercase words, a number.
        #[test]
        fn a_region_is_accepted_exactly_when_it_looks_like_one(
            raw in prop_oneof![
                3 => "[a-z]{1,3}(-[a-z]{0,6}){0,3}-[0-9]{0,2}",
                1 => "[a-zA-Z0-9-]{0,16}",
                1 => any_text(),
            ],
        ) {
            let region = Region::parse(&raw);
            prop_assert_eq!(region.is_ok(), REGION.is_match(&raw), "{:?}", raw);
            if let Ok(region) = region {
                prop_assert_eq!(region.as_str(), &raw);
            }
        }

        /// An account id is accepted exactly when it is 12 digits; the artifact bucket is
        /// derived from one and a region, and always passes S3's rule.
        #[test]
        fn accounts_are_twelve_digits_and_give_a_valid_bucket(
            account in prop_oneof!["[0-9]{12}", "[0-9]{10,14}", any_text()],
            region in "[a-z]{2}(-[a-z]{1,12}){1,3}-[0-9]{1,2}",
        ) {
            let twelve_digits = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(check_account(&account).is_ok(), twelve_digits);
            let region = Region::parse(&region).unwrap();
            match artifact_bucket(&account, &region) {
                Ok(bucket) => {
                    prop_assert!(twelve_digits);
                    prop_assert_eq!(&bucket, &format!("mb-artifacts-{account}-{region}"));
                    prop_assert_eq!(check_bucket(&bucket), Ok(()));
                }
                // Only a long region overflows the 63 characters.
                Err(err) => prop_assert!(
                    !twelve_digits || format!("mb-artifacts-{account}-{region}").len() > 63,
                    "{}", err
                ),
            }
        }

        /// Every rule is total over any text; what it accepts matches the documented
        /// rule (docs/package.md), ASCII-only where the document's `\w` is ASCII.
        #[test]
        fn every_rule_accepts_exactly_what_its_documented_rule_does(
            name in prop_oneof![
                3 => "[a-zA-Z0-9_.+=,@/#-]{0,70}",
                1 => "[a-z0-9.-]{0,70}",
                1 => any_text(),
            ],
        ) {
            let length = name.chars().count();
            for (rule, characters, min, max) in ASCII_RULES.iter() {
                let checked = rule.check(&name);
                let documented = characters.is_match(&name) && (*min..=*max).contains(&length);
                prop_assert_eq!(checked.is_ok(), documented, "{:?} {:?}: {:?}", rule, name, checked);
            }
            // The rest of S3's rule, on names that pass the characters and the length.
            let bucket = Rule::Bucket.check(&name).is_ok();
            let shape = BUCKET.is_match(&name)
                && !name.contains("..")
                && name.parse::<std::net::Ipv4Addr>().is_err()
                && !["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| name.starts_with(p))
                && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().any(|s| name.ends_with(s));
            prop_assert_eq!(bucket, shape, "{:?}", name);
            prop_assert_eq!(check_bucket(&name).is_ok(), bucket);
            let _ = Rule::Api.check(&name);
        }

        /// A service whose names overflow is told the length that fits: a service of that
        /// many characters derives every name.
        #[test]
        fn the_length_an_overflow_suggests_fits(
            service in "[a-z][a-z0-9-]{0,98}[a-z0-9]",
            stage in "[a-z0-9]{1,140}",
            region in prop::sample::select(vec!["us-east-1", "ap-southeast-2", "us-gov-west-1"]),
        ) {
            if let Err(NameError::Overflow { over, fix, .. }) = derive(&service, &stage, region) {
                let fits = service.len().saturating_sub(over);
                if fits >= 1 {
                    prop_assert!(fix.contains(&format!("to {fits} characters")), "{}", fix);
                    prop_assert!(derive(&"a".repeat(fits), &stage, region).is_ok());
                } else {
                    prop_assert!(fix.contains("shorten the stage"), "{}", fix);
                }
            }
        }
    }

    /// Any text, ASCII or not, control characters included.
    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-zA-Z0-9 _.\\t\u{0}é🎮-]{0,40}"]
    }

    /// `err` names what was refused and quotes it; a suggestion in it is accepted.
    fn refused_with_why(
        err: &NameError,
        what: &str,
        raw: &str,
        accepted: impl Fn(&str) -> bool,
    ) -> Result<(), TestCaseError> {
        let NameError::Invalid {
            what: said,
            value,
            suggestion,
            ..
        } = err
        else {
            return Err(TestCaseError::fail(format!("{raw:?}: {err:?}")));
        };
        prop_assert_eq!(*said, what);
        prop_assert_eq!(value, raw);
        prop_assert!(err.to_string().contains(raw), "{}", err);
        if let Some(fixed) = suggestion {
            prop_assert!(accepted(fixed), "{:?} suggested {:?}", raw, fixed);
            let tried = format!("Try `{fixed}`");
            prop_assert!(err.to_string().contains(&tried), "{}", err);
        }
        Ok(())
    }

    static SERVICE: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$").unwrap());
    static STAGE: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[a-z0-9]+$").unwrap());
    static REGION: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$").unwrap());
    /// S3's characters, length and ends.
    static BUCKET: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").unwrap());
    /// Each rule of docs/package.md's table: its characters as a regular expression over
    /// ASCII (`(?-u)`: `\w` is `[A-Za-z0-9_]`), and its length in characters.
    static ASCII_RULES: std::sync::LazyLock<Vec<(Rule, Regex, usize, usize)>> =
        std::sync::LazyLock::new(|| {
            [
                (Rule::Stack, r"^[A-Za-z][A-Za-z0-9-]*$", 1, 128),
                (Rule::Table, r"^[A-Za-z0-9_.-]*$", 3, 255),
                (Rule::Function, r"^[A-Za-z0-9_-]*$", 1, 64),
                (Rule::Role, r"^(?-u:[\w+=,.@-])*$", 1, 64),
                (Rule::LogGroup, r"^[.\-_/#A-Za-z0-9]*$", 1, 512),
                (Rule::ApiStage, r"^[A-Za-z0-9_-]*$", 1, 128),
                (Rule::Secret, r"^[A-Za-z0-9/_+=.@-]*$", 1, 512),
                (Rule::Queue, r"^[A-Za-z0-9_-]*$", 1, 80),
            ]
            .into_iter()
            .map(|(rule, re, min, max)| (rule, Regex::new(re).unwrap(), min, max))
            .collect()
        });
}
