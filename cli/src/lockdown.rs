//! The artifact bucket's lock-down, and what a deploy re-applies when part of it is gone
//! (pure; `crate::artifacts` makes the S3 calls).
//!
//! mb locks a bucket down when it creates it: all public access blocked, SSE-S3 default
//! encryption, and a policy denying requests without TLS. If that step failed once, or
//! someone undid part of it later, the bucket is still "ours", so every deploy reads the
//! three settings back and puts back what is missing.
//!
//! A bucket given with `--bucket` is the user's: mb fills in only what is absent (no
//! public access block at all, no default encryption), and never writes its policy, which
//! the user (or their own infrastructure code) manages; it warns instead. A partial
//! public access block on such a bucket is a choice mb reports but does not override.

use serde_json::{Value, json};

/// The actions mb's bucket policy denies without TLS: everything mb or a person would do
/// with the bucket and its objects. Listed, because no policy mb writes uses `*`.
const TLS_ONLY_ACTIONS: [&str; 12] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:DeleteBucket",
];

/// The statement id of mb's TLS-only statement.
pub const TLS_ONLY_SID: &str = "DenyWithoutTls";

/// The names of the four public access block settings, in S3's order.
const BLOCK_SETTINGS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// mb's statement denying requests without TLS, for `bucket` in `partition` (pure).
pub fn tls_only_statement(bucket: &str, partition: &str) -> Value {
    json!({
        "Sid": TLS_ONLY_SID,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": TLS_ONLY_ACTIONS,
        "Resource": [
            format!("arn:{partition}:s3:::{bucket}"),
            format!("arn:{partition}:s3:::{bucket}/*"),
        ],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
}

/// The bucket policy of a bucket mb creates: the TLS-only statement alone (pure).
pub fn tls_only_policy(bucket: &str, partition: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [tls_only_statement(bucket, partition)],
    })
    .to_string()
}

/// Whose bucket it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The default `mb-artifacts-<account>-<region>`: mb's to lock down.
    Mb,
    /// Given with `--bucket`: the user's.
    User,
}

/// What the Get calls returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// GetPublicAccessBlock's four settings (missing ones count as off); `None` when the
    /// bucket has no configuration (NoSuchPublicAccessBlockConfiguration).
    pub public_access_block: Option<[bool; 4]>,
    /// Whether GetBucketEncryption returned a rule with a default algorithm (any: SSE-S3
    /// or a KMS key the owner chose).
    pub encrypted: bool,
    /// GetBucketPolicy's document: `None` when there is none (NoSuchBucketPolicy), and
    /// when it was not read because no TLS-only policy is wanted.
    pub policy: Option<String>,
}

/// One thing to do about the bucket, with the sentence mb prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// PutPublicAccessBlock with all four settings on.
    BlockPublicAccess(String),
    /// PutBucketEncryption with SSE-S3.
    Encrypt(String),
    /// PutBucketPolicy with this document.
    PutPolicy { policy: String, said: String },
    /// Nothing is changed; the user hears why.
    Warn(String),
}

impl Step {
    /// What mb prints about it.
    pub fn said(&self) -> &str {
        match self {
            Step::BlockPublicAccess(said) | Step::Encrypt(said) | Step::Warn(said) => said,
            Step::PutPolicy { said, .. } => said,
        }
    }
}

/// The bucket and where it is, as the decisions need them.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub bucket: &'a str,
    pub partition: &'a str,
    pub owner: Owner,
    /// Whether a TLS-only policy is wanted (not against an emulator on plain HTTP).
    pub require_tls: bool,
}

/// What is missing from the lock-down, and what to do about each (pure).
pub fn plan(observed: &Observed, target: Target<'_>) -> Vec<Step> {
    let bucket = target.bucket;
    let mut steps = Vec::new();
    let (whose, given) = match target.owner {
        Owner::Mb => (format!("the artifact bucket {bucket}"), ""),
        Owner::User => (
            format!("the artifact bucket {bucket} (--bucket)"),
            " mb leaves this part of a bucket you gave it as it is;",
        ),
    };
    match observed.public_access_block {
        None => steps.push(Step::BlockPublicAccess(format!(
            "{whose} had no public access block; blocked public access again"
        ))),
        Some(settings) if settings.iter().all(|on| *on) => {}
        Some(settings) => {
            let off: Vec<&str> = BLOCK_SETTINGS
                .iter()
                .zip(settings)
                .filter(|(_, on)| !on)
                .map(|(name, _)| *name)
                .collect();
            let off = off.join(", ");
            steps.push(match target.owner {
                Owner::Mb => Step::BlockPublicAccess(format!(
                    "{whose} allowed some public access ({off} off); blocked public access \
                     again"
                )),
                Owner::User => Step::Warn(format!(
                    "warning: {whose} allows some public access ({off} off);{given} turn \
                     on all four Block Public Access settings to keep the code private"
                )),
            });
        }
    }
    if !observed.encrypted {
        steps.push(Step::Encrypt(format!(
            "{whose} had no default encryption; turned on SSE-S3 again"
        )));
    }
    if target.require_tls
        && let Some(step) = policy_step(observed.policy.as_deref(), target, &whose, given)
    {
        steps.push(step);
    }
    steps
}

/// The TLS-only policy: there, added, merged, or (for a user's bucket) a warning.
fn policy_step(policy: Option<&str>, target: Target<'_>, whose: &str, given: &str) -> Option<Step> {
    let statement = tls_only_statement(target.bucket, target.partition);
    let Some(policy) = policy else {
        return Some(match target.owner {
            Owner::Mb => Step::PutPolicy {
                policy: tls_only_policy(target.bucket, target.partition),
                said: format!(
                    "{whose} had no bucket policy; added the policy denying requests without \
                     TLS again"
                ),
            },
            Owner::User => Step::Warn(format!(
                "warning: {whose} has no policy denying requests without TLS;{given} add a \
                 statement like mb's ({}) to its policy",
                statement
            )),
        });
    };
    let document: Value = match serde_json::from_str(policy) {
        Ok(document) => document,
        Err(err) => {
            return Some(Step::Warn(format!(
                "warning: the policy of {whose} is not JSON mb can read ({err}); it is left \
                 as it is, and may not deny requests without TLS"
            )));
        }
    };
    if denies_without_tls(&document) {
        return None;
    }
    Some(match target.owner {
        Owner::Mb => match merged(document, statement) {
            Some(policy) => Step::PutPolicy {
                policy,
                said: format!(
                    "{whose}'s policy did not deny requests without TLS; added mb's statement \
                     `{TLS_ONLY_SID}` to it again (its other statements are kept)"
                ),
            },
            None => Step::Warn(format!(
                "warning: the policy of {whose} is not a policy document mb can add to; it \
                 is left as it is, and does not deny requests without TLS"
            )),
        },
        Owner::User => Step::Warn(format!(
            "warning: the policy of {whose} does not deny requests without TLS;{given} add a \
             statement like mb's ({statement}) to it"
        )),
    })
}

/// Whether a policy has a Deny statement conditioned on `aws:SecureTransport` false: mb's
/// own, or one the owner wrote to the same effect (pure).
pub fn denies_without_tls(policy: &Value) -> bool {
    statements(policy).iter().any(|statement| {
        let deny = statement["Effect"].as_str() == Some("Deny");
        let secure = &statement["Condition"]["Bool"]["aws:SecureTransport"];
        let when_plain = match secure {
            Value::String(value) => value.eq_ignore_ascii_case("false"),
            Value::Bool(value) => !value,
            Value::Array(values) => values
                .iter()
                .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case("false")) || v == false),
            _ => false,
        };
        deny && when_plain
    })
}

/// A policy's statements: `Statement` is a list, or a single object.
fn statements(policy: &Value) -> Vec<&Value> {
    match &policy["Statement"] {
        Value::Array(list) => list.iter().collect(),
        one @ Value::Object(_) => vec![one],
        _ => Vec::new(),
    }
}

/// `policy` with `statement` added (one under mb's statement id replaced), every other
/// statement kept; `None` when `policy` is not a policy document (pure).
pub fn merged(mut policy: Value, statement: Value) -> Option<String> {
    let document = policy.as_object_mut()?;
    let mut list: Vec<Value> = match document.remove("Statement") {
        Some(Value::Array(list)) => list,
        Some(one @ Value::Object(_)) => vec![one],
        None => Vec::new(),
        Some(_) => return None,
    };
    list.retain(|s| s["Sid"].as_str() != Some(TLS_ONLY_SID));
    list.push(statement);
    document
        .entry("Version")
        .or_insert_with(|| json!("2012-10-17"));
    document.insert("Statement".to_owned(), Value::Array(list));
    Some(policy.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: &str = "mb-artifacts-123456789012-us-east-1";

    fn target(owner: Owner) -> Target<'static> {
        Target {
            bucket: BUCKET,
            partition: "aws",
            owner,
            require_tls: true,
        }
    }

    fn locked() -> Observed {
        Observed {
            public_access_block: Some([true; 4]),
            encrypted: true,
            policy: Some(tls_only_policy(BUCKET, "aws")),
        }
    }

    #[test]
    fn a_locked_bucket_needs_nothing() {
        assert_eq!(plan(&locked(), target(Owner::Mb)), []);
        assert_eq!(plan(&locked(), target(Owner::User)), []);
    }

    #[test]
    fn mbs_bucket_gets_back_whatever_is_missing() {
        let bare = Observed {
            public_access_block: None,
            encrypted: false,
            policy: None,
        };
        let steps = plan(&bare, target(Owner::Mb));
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(
            steps[0],
            Step::BlockPublicAccess(format!(
                "the artifact bucket {BUCKET} had no public access block; blocked public \
                 access again"
            ))
        );
        assert!(matches!(steps[1], Step::Encrypt(_)));
        match &steps[2] {
            Step::PutPolicy { policy, .. } => {
                assert_eq!(*policy, tls_only_policy(BUCKET, "aws"));
            }
            other => panic!("{other:?}"),
        }
        // One setting turned off is put back too, naming it.
        let partial = Observed {
            public_access_block: Some([true, true, false, true]),
            ..locked()
        };
        let steps = plan(&partial, target(Owner::Mb));
        assert_eq!(steps.len(), 1);
        assert!(
            matches!(&steps[0], Step::BlockPublicAccess(s) if s.contains("BlockPublicPolicy off"))
        );
    }

    #[test]
    fn another_policy_gets_mbs_statement_added_and_keeps_its_own() {
        let theirs = json!({
            "Version": "2012-10-17",
            "Statement": {"Sid": "Audit", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
                          "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
        })
        .to_string();
        let observed = Observed {
            policy: Some(theirs),
            ..locked()
        };
        let steps = plan(&observed, target(Owner::Mb));
        let Step::PutPolicy { policy, said } = &steps[0] else {
            panic!("{steps:?}")
        };
        assert!(said.contains("other statements are kept"), "{said}");
        let policy: Value = serde_json::from_str(policy).unwrap();
        let sids: Vec<&str> = statements(&policy)
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(sids, ["Audit", TLS_ONLY_SID]);
        assert!(denies_without_tls(&policy));
    }

    #[test]
    fn an_owners_own_tls_statement_counts() {
        for secure in [json!("false"), json!(false), json!(["false"])] {
            let policy = json!({"Statement": [{"Sid": "HttpsOnly", "Effect": "Deny",
                "Principal": "*", "Action": "s3:*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": secure}}}]});
            assert!(denies_without_tls(&policy), "{policy}");
        }
        let allow = json!({"Statement": [{"Effect": "Allow",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
        assert!(!denies_without_tls(&allow));
    }

    #[test]
    fn a_users_bucket_is_filled_in_never_overridden() {
        let bare = Observed {
            public_access_block: None,
            encrypted: false,
            policy: None,
        };
        let steps = plan(&bare, target(Owner::User));
        assert!(matches!(&steps[0], Step::BlockPublicAccess(s) if s.contains("(--bucket)")));
        assert!(matches!(steps[1], Step::Encrypt(_)));
        assert!(matches!(&steps[2], Step::Warn(s) if s.contains("no policy denying")));
        // A partial block and a policy without TLS are the user's choices: warnings only.
        let chosen = Observed {
            public_access_block: Some([true, true, true, false]),
            encrypted: true,
            policy: Some(json!({"Statement": []}).to_string()),
        };
        let steps = plan(&chosen, target(Owner::User));
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(
            steps.iter().all(|s| matches!(s, Step::Warn(_))),
            "{steps:?}"
        );
        assert!(steps[0].said().contains("RestrictPublicBuckets off"));
    }

    #[test]
    fn without_tls_the_policy_is_not_looked_at() {
        let observed = Observed {
            policy: None,
            ..locked()
        };
        let plain = Target {
            require_tls: false,
            ..target(Owner::Mb)
        };
        assert_eq!(plan(&observed, plain), []);
    }

    #[test]
    fn the_policy_denies_plain_http_in_the_callers_partition() {
        for partition in ["aws", "aws-cn", "aws-us-gov"] {
            let policy: Value = serde_json::from_str(&tls_only_policy(BUCKET, partition)).unwrap();
            let statement = &policy["Statement"][0];
            assert_eq!(statement["Effect"], "Deny");
            assert_eq!(
                statement["Resource"],
                json!([
                    format!("arn:{partition}:s3:::{BUCKET}"),
                    format!("arn:{partition}:s3:::{BUCKET}/*")
                ])
            );
            let actions = statement["Action"].as_array().unwrap();
            assert!(actions.iter().all(|a| !a.as_str().unwrap().contains('*')));
            assert!(denies_without_tls(&policy));
        }
    }

    #[test]
    fn a_policy_that_is_not_a_document_is_left_alone() {
        let observed = Observed {
            policy: Some("not json".into()),
            ..locked()
        };
        assert!(matches!(
            &plan(&observed, target(Owner::Mb))[0],
            Step::Warn(_)
        ));
        assert_eq!(merged(json!([1]), json!({})), None);
        assert_eq!(merged(json!({"Statement": 3}), json!({})), None);
    }
}
