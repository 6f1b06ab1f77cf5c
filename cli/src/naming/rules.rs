//! AWS's rules for the names `mb` derives (stack, table, function, role, log group, API,
//! stage, secret, queue, bucket): each rule, and how a name breaks it (docs/package.md,
//! the names table). Pure.

/// The rule of one kind of AWS name (docs/package.md, the names table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `^[A-Za-z][A-Za-z0-9-]{0,127}$`
    Stack,
    /// `^[A-Za-z0-9_.-]{3,255}$`
    Table,
    /// `^[A-Za-z0-9_-]{1,64}$`
    Function,
    /// `^[\w+=,.@-]{1,64}$`
    Role,
    /// 1-512 chars of `[\.\-_/#A-Za-z0-9]`
    LogGroup,
    /// 1-128 chars
    Api,
    /// alphanumerics, `-`, `_`, up to 128
    ApiStage,
    /// 1-512 chars of `[A-Za-z0-9/_+=.@-]`
    Secret,
    /// `^[A-Za-z0-9_-]{1,80}$` (a standard queue)
    Queue,
    /// 3-63 chars of `[a-z0-9.-]`, letter or digit at both ends, no `..`, not an IP
    /// address, no reserved prefix or suffix.
    Bucket,
}

/// How a name breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    TooLong { len: usize, max: usize },
    TooShort { len: usize, min: usize },
    Char { ch: char, position: usize },
    Start(char),
    End(char),
    Other(&'static str),
}

impl Violation {
    pub(super) fn describe(&self, rule: Rule) -> String {
        match self {
            Violation::TooLong { len, max } => format!("{len} characters, more than {max}"),
            Violation::TooShort { len, min } => format!("{len} characters, fewer than {min}"),
            Violation::Char { ch, position } => format!(
                "`{}` (character {position}) is not allowed in a {}",
                ch.escape_debug(),
                rule.resource()
            ),
            Violation::Start(ch) => format!("a {} cannot start with `{ch}`", rule.resource()),
            Violation::End(ch) => format!("a {} cannot end with `{ch}`", rule.resource()),
            Violation::Other(why) => (*why).to_owned(),
        }
    }
}

impl Rule {
    pub fn resource(self) -> &'static str {
        match self {
            Rule::Stack => "CloudFormation stack name",
            Rule::Table => "DynamoDB table name",
            Rule::Function => "Lambda function name",
            Rule::Role => "IAM role name",
            Rule::LogGroup => "CloudWatch log group name",
            Rule::Api => "API Gateway API name",
            Rule::ApiStage => "API Gateway stage name",
            Rule::Secret => "Secrets Manager secret name",
            Rule::Queue => "SQS queue name",
            Rule::Bucket => "S3 bucket name",
        }
    }

    pub(super) fn max_len(self) -> usize {
        match self {
            Rule::Stack | Rule::Api | Rule::ApiStage => 128,
            Rule::Table => 255,
            Rule::Function | Rule::Role => 64,
            Rule::Queue => 80,
            Rule::LogGroup | Rule::Secret => 512,
            Rule::Bucket => 63,
        }
    }

    pub(super) fn min_len(self) -> usize {
        match self {
            Rule::Table | Rule::Bucket => 3,
            _ => 1,
        }
    }

    pub(super) fn allows(self, ch: char) -> bool {
        let alnum = ch.is_ascii_alphanumeric();
        match self {
            Rule::Stack => alnum || ch == '-',
            Rule::Table => alnum || matches!(ch, '_' | '.' | '-'),
            Rule::Function | Rule::ApiStage | Rule::Queue => alnum || matches!(ch, '_' | '-'),
            Rule::Role => alnum || matches!(ch, '_' | '+' | '=' | ',' | '.' | '@' | '-'),
            Rule::LogGroup => alnum || matches!(ch, '.' | '-' | '_' | '/' | '#'),
            Rule::Secret => alnum || matches!(ch, '/' | '_' | '+' | '=' | '.' | '@' | '-'),
            Rule::Api => !ch.is_control(),
            Rule::Bucket => {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '-')
            }
        }
    }

    /// Checks `name` against this rule.
    pub fn check(self, name: &str) -> Result<(), Violation> {
        let len = name.chars().count();
        if len > self.max_len() {
            return Err(Violation::TooLong {
                len,
                max: self.max_len(),
            });
        }
        if len < self.min_len() {
            return Err(Violation::TooShort {
                len,
                min: self.min_len(),
            });
        }
        if let Some((index, ch)) = name.chars().enumerate().find(|&(_, c)| !self.allows(c)) {
            return Err(Violation::Char {
                ch,
                position: index + 1,
            });
        }
        let first = name.chars().next().unwrap_or_default();
        let last = name.chars().last().unwrap_or_default();
        match self {
            Rule::Stack if !first.is_ascii_alphabetic() => Err(Violation::Start(first)),
            Rule::Bucket => check_bucket_shape(name, first, last),
            _ => Ok(()),
        }
    }
}

/// The parts of S3's bucket rule beyond length and characters.
fn check_bucket_shape(name: &str, first: char, last: char) -> Result<(), Violation> {
    const PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if !first.is_ascii_alphanumeric() {
        return Err(Violation::Start(first));
    }
    if !last.is_ascii_alphanumeric() {
        return Err(Violation::End(last));
    }
    if name.contains("..") {
        return Err(Violation::Other("a bucket name cannot contain `..`"));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(Violation::Other(
            "a bucket name cannot look like an IP address",
        ));
    }
    if PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(Violation::Other(
            "a bucket name cannot start with `xn--`, `sthree-` or `amzn-s3-demo-`",
        ));
    }
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(Violation::Other(
            "a bucket name cannot end with `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`",
        ));
    }
    Ok(())
}
