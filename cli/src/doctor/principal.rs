//! Which IAM principal a caller ARN (STS GetCallerIdentity's answer) is, and what
//! `iam:SimulatePrincipalPolicy` must be given for it (pure).
//!
//! The simulation takes IAM ARNs of users, groups and roles. A session of an assumed role
//! (`arn:aws:sts::A:assumed-role/ROLE/SESSION`) is refused ("Invalid Entity Arn"): it is
//! simulated as its role, whose ARN carries the role's path (SSO roles live under
//! `/aws-reserved/sso.amazonaws.com/...`), which only `iam:GetRole` knows.

/// The caller, as far as simulating goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user (or any IAM ARN the simulation takes as it is).
    User { arn: String },
    /// A session of an assumed role: simulate the role, found by name with GetRole.
    AssumedRole {
        partition: String,
        account: String,
        role: String,
    },
    /// The account's root user: every action is allowed (short of an SCP).
    Root,
    /// A principal the simulation cannot take (a federated user); why.
    Unsupported(String),
}

/// Reads a caller ARN.
pub fn parse(arn: &str) -> Principal {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _region, account, resource] = parts[..] else {
        return Principal::Unsupported(format!("`{arn}` is not an ARN"));
    };
    if prefix != "arn" {
        return Principal::Unsupported(format!("`{arn}` is not an ARN"));
    }
    match (service, resource.split_once('/')) {
        ("iam", None) if resource == "root" => Principal::Root,
        ("iam", Some(("user" | "role" | "group", _))) => Principal::User {
            arn: arn.to_owned(),
        },
        ("sts", Some(("assumed-role", rest))) => match rest.split_once('/') {
            Some((role, _session)) if !role.is_empty() => Principal::AssumedRole {
                partition: partition.to_owned(),
                account: account.to_owned(),
                role: role.to_owned(),
            },
            _ => Principal::Unsupported(format!("`{arn}` names no role")),
        },
        // Emulators answer GetCallerIdentity with `arn:aws:sts::A:user/NAME`.
        ("sts", Some(("user", name))) => Principal::User {
            arn: format!("arn:{partition}:iam::{account}:user/{name}"),
        },
        ("sts", Some(("federated-user", _))) => Principal::Unsupported(
            "a federated user's permissions come from the policy passed to \
             GetFederationToken, which IAM cannot simulate"
                .to_owned(),
        ),
        _ => Principal::Unsupported(format!("`{arn}` is not a principal IAM can simulate")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_roles_are_simulated_as_they_are() {
        for arn in [
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::123456789012:user/ci/deployer",
            "arn:aws:iam::123456789012:role/admin",
        ] {
            assert_eq!(parse(arn), Principal::User { arn: arn.into() });
        }
    }

    #[test]
    fn an_assumed_role_session_is_its_role() {
        assert_eq!(
            parse(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com"
            ),
            Principal::AssumedRole {
                partition: "aws".into(),
                account: "123456789012".into(),
                role: "AWSReservedSSO_Admin_0123".into(),
            }
        );
        assert_eq!(
            parse("arn:aws-cn:sts::123456789012:assumed-role/deploy/ci"),
            Principal::AssumedRole {
                partition: "aws-cn".into(),
                account: "123456789012".into(),
                role: "deploy".into(),
            }
        );
    }

    #[test]
    fn root_federated_and_garbage() {
        assert_eq!(parse("arn:aws:iam::123456789012:root"), Principal::Root);
        assert!(matches!(
            parse("arn:aws:sts::123456789012:federated-user/bob"),
            Principal::Unsupported(_)
        ));
        assert!(matches!(parse("not an arn"), Principal::Unsupported(_)));
        assert!(matches!(
            parse("arn:aws:sts::123456789012:assumed-role/"),
            Principal::Unsupported(_)
        ));
    }

    #[test]
    fn an_emulators_sts_user_is_an_iam_user() {
        assert_eq!(
            parse("arn:aws:sts::123456789012:user/moto"),
            Principal::User {
                arn: "arn:aws:iam::123456789012:user/moto".into()
            }
        );
    }
}
