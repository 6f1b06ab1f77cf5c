//! `mb doctor`: can these credentials, this machine and this stack deploy, before trying.
//! It changes nothing.
//!
//! 1. Load the AWS configuration (credentials, region) and ask STS who the caller is.
//! 2. Simulate every IAM action a deploy needs (`crate::permissions`) as the caller.
//! 3. Look for cargo, a cross-compiler and the Rust target of `--arch`.
//! 4. Check the service name and every name derived from it.
//! 5. Describe the stack and say what `mb deploy` would do with it; probe the artifact
//!    bucket; run `mb deploy`'s preflight (`--bucket`'s region, names already taken).
//!    Read the account's concurrency and say what a deploy would reserve
//!    (`crate::concurrency`, with the `reserved-concurrency` of `mb.toml` if it has one).
//! 6. Print each check (or one JSON object); exit 1 if any failed, 0 otherwise (with a
//!    warning when some could not be made).
//!
//! `mb doctor --policy` prints the least-privilege policy for the service instead.

use clap::Args;
use serde_json::json;

use crate::artifacts::Bucket;
use crate::aws::{self, Aws, AwsArgs, Identity};
use crate::build::{Arch, toolchain};
use crate::commands::service::ServiceArgs;
use crate::concurrency;
use crate::doctor::simulate;
use crate::doctor::{self, Check, Outcome, checks, report};
use crate::error::Failure;
use crate::naming::{self, NameError, Names, Region, ServiceName, Stage};
use crate::permissions::{self, Scope};
use crate::settings::Settings;
use crate::stack::Stack;
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The architecture a deploy would build for
    #[arg(long, value_enum, default_value = "arm64")]
    pub arch: Arch,
    /// The artifact bucket a deploy would use (default: mb-artifacts-<account>-<region>)
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
    /// Print one JSON object with every check instead of text
    #[arg(long, conflicts_with = "policy")]
    pub json: bool,
    /// Print the least-privilege IAM policy for deploying the service (JSON) and nothing else
    #[arg(long)]
    pub policy: bool,
    /// With --policy: the account the policy is for, instead of the caller's (no AWS call;
    /// the region comes from --region or the AWS configuration)
    #[arg(long, value_name = "ID", requires = "policy")]
    pub account: Option<String>,
    /// The settings of `mb.toml`, which a deploy would take (no flags: doctor checks what
    /// the project file says).
    #[arg(skip)]
    pub settings: Settings,
}

pub async fn run(args: &DoctorArgs, ui: &Ui) -> Result<(), Failure> {
    if let Some(bucket) = &args.bucket {
        naming::check_bucket(bucket)?;
    }
    if args.policy {
        return print_policy(args).await;
    }
    let service = args.service.given().map(str::to_owned);
    let progress = ui.spinner("checking the AWS credentials");

    // 1. Configuration and identity.
    let loaded = Aws::load(&args.aws).await;
    let profile = aws::profile(&args.aws);
    let configuration = checks::configuration(
        loaded
            .as_ref()
            .map(|aws| (aws.region(), profile.as_deref()))
            .map_err(ToString::to_string),
    );
    let aws = loaded.ok();
    let (identity_check, identity) = identity(aws.as_ref()).await;
    // The names scope the permissions, the stack and the bucket.
    let derived = derive(service.as_deref(), args, aws.as_ref(), identity.as_ref());

    // 2. Permissions.
    progress.set_message("simulating the IAM permissions a deploy needs");
    let permissions_check = match (&aws, &identity, derived.names()) {
        (Some(aws), Some(identity), Some((names, bucket))) => {
            let scope = Scope {
                names,
                account: &identity.account,
                bucket,
            };
            let simulation = simulate::simulate(&aws.iam(), &identity.arn, &scope).await;
            simulate::verdict(&simulation, &scope)
        }
        (_, _, None) => derived.not_checked("permissions"),
        _ => checks::not_checked("permissions", "the caller is not known"),
    };

    // 3. The toolchain.
    progress.set_message("looking for the cross-compiling toolchain");
    let workspace = std::env::current_dir().unwrap_or_default();
    let toolchain_check = checks::toolchain(
        args.arch,
        toolchain::cargo_runs(),
        &toolchain::detect(),
        &toolchain::target_status(args.arch, &workspace),
    );

    // 4. The names.
    let names_check = derived.check();

    // 5. The stack and the bucket.
    progress.set_message("looking at the stack and the artifact bucket");
    let (stack_check, bucket_check, preflight_check, concurrency_check) = match (&aws, &identity) {
        (Some(aws), Some(identity)) => {
            let described = describe(aws, &derived).await;
            (
                stack(&derived, described.as_ref()),
                bucket(aws, identity, &derived, args).await,
                preflight(aws, identity, &derived, args, described.as_ref()).await,
                concurrency(aws, described.as_ref(), args).await,
            )
        }
        _ => (
            checks::not_checked("stack", "the caller is not known"),
            checks::not_checked("bucket", "the caller is not known"),
            checks::not_checked("preflight", "the caller is not known"),
            checks::not_checked("concurrency", "the caller is not known"),
        ),
    };
    progress.finish();

    // 6. The report.
    let all = [
        configuration,
        identity_check,
        permissions_check,
        toolchain_check,
        names_check,
        stack_check,
        bucket_check,
        preflight_check,
        concurrency_check,
    ];
    print_report(args, service.as_deref(), aws.as_ref(), &all)?;
    match doctor::outcome(&all) {
        Outcome::Ready => Ok(()),
        Outcome::Unverified(n) => {
            ui.line(&format!(
                "warning: {n} check{} could not be made (unknown); nothing failed",
                if n == 1 { "" } else { "s" }
            ));
            Ok(())
        }
        Outcome::Failed(n) => Err(Failure::new(format!(
            "{n} check{} failed: fix {} and run mb doctor again",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ))),
    }
}

/// STS GetCallerIdentity, as a check and (when it answered) the identity.
async fn identity(aws: Option<&Aws>) -> (Check, Option<Identity>) {
    let Some(aws) = aws else {
        return (
            checks::not_checked("identity", "no AWS configuration"),
            None,
        );
    };
    match aws.identity().await {
        Ok(identity) => (
            checks::identity(Ok((&identity.account, &identity.arn))),
            Some(identity),
        ),
        Err(failure) => (checks::identity(Err(failure.to_string())), None),
    }
}

/// The service's stack as described (`None` when the names are not known).
async fn describe(aws: &Aws, derived: &Derived) -> Option<Result<Option<Stack>, String>> {
    let (names, _) = derived.names()?;
    Some(
        crate::stack::describe(&aws.cloudformation(), &names.stack)
            .await
            .map_err(|f| f.to_string()),
    )
}

/// The stack and what `mb deploy` would do with it.
fn stack(derived: &Derived, found: Option<&Result<Option<Stack>, String>>) -> Check {
    let (Some((names, _)), Some(found)) = (derived.names(), found) else {
        return derived.not_checked("stack");
    };
    checks::stack(
        &names.stack,
        found
            .as_ref()
            .map(|s| s.as_ref().map(|s| (&s.status, s.reason.as_deref())))
            .map_err(Clone::clone),
    )
}

/// The account's concurrency and what a deploy would reserve, for the stack as it stands
/// (a new one when it is not known) and what `mb.toml` gives.
async fn concurrency(
    aws: &Aws,
    found: Option<&Result<Option<Stack>, String>>,
    args: &DoctorArgs,
) -> Check {
    let account = concurrency::account(&aws.lambda()).await;
    let deployed = found
        .and_then(|found| found.as_ref().ok())
        .and_then(|stack| concurrency::deployed(stack.as_ref()));
    let given = args.settings.get(concurrency::KEY);
    checks::concurrency(
        &account,
        deployed,
        &concurrency::plan(given, deployed, &account),
    )
}

/// The artifact bucket: the service's, else `--bucket` or the account's default.
async fn bucket(aws: &Aws, identity: &Identity, derived: &Derived, args: &DoctorArgs) -> Check {
    let name = match derived.names() {
        Some((_, bucket)) => Some(bucket.to_owned()),
        None => Region::parse(aws.region()).ok().and_then(|region| {
            naming::bucket_or_default(args.bucket.as_deref(), &identity.account, &region).ok()
        }),
    };
    let Some(name) = name else {
        return checks::not_checked("bucket", "its name cannot be derived");
    };
    let bucket = Bucket {
        name: name.clone(),
        owner: identity.account.clone(),
        require_tls: !aws.s3_without_tls(),
    };
    let found = bucket.presence(&aws.s3()).await.map_err(|f| f.to_string());
    checks::bucket(&name, &identity.account, found)
}

/// What `mb deploy`'s preflight would refuse, for the stack as described.
async fn preflight(
    aws: &Aws,
    identity: &Identity,
    derived: &Derived,
    args: &DoctorArgs,
    described: Option<&Result<Option<Stack>, String>>,
) -> Check {
    let (Some((names, _)), Some(described)) = (derived.names(), described) else {
        return derived.not_checked("preflight");
    };
    let stack = match described {
        Ok(stack) => stack.as_ref(),
        Err(why) => return checks::preflight(Err(why.clone())),
    };
    let found =
    // Doctor takes no access settings: the secret's name is checked as if `--auth jwt`.
        crate::preflight::look(aws, names, &identity.account, args.bucket.as_deref(), stack, true)
            .await
            .map_err(|f| f.to_string());
    checks::preflight(found.as_ref().map_err(Clone::clone))
}

/// The report on stdout: text, or one JSON object with `--json`.
fn print_report(
    args: &DoctorArgs,
    service: Option<&str>,
    aws: Option<&Aws>,
    all: &[Check],
) -> Result<(), Failure> {
    let region = aws.map(|a| a.region().to_owned());
    if args.json {
        let context = json!({
            "service": service,
            "stage": args.service.stage,
            "region": region,
            "arch": args.arch.flag(),
        });
        let text = serde_json::to_string_pretty(&report::json(context, all))
            .map_err(|e| Failure::new(format!("cannot print JSON: {e}")))?;
        return crate::ui::print(&(text + "\n"));
    }
    let heading = format!(
        "mb doctor: service {}, stage {}, region {}, {}",
        service.unwrap_or("(none)"),
        args.service.stage,
        region.as_deref().unwrap_or("(unknown)"),
        args.arch.flag()
    );
    crate::ui::print(&report::text(&heading, all, crate::ui::stdout_colour()))
}

/// The names, as far as they can be derived.
enum Derived {
    NoService,
    /// The service and stage are valid, but there is no region (the configuration did
    /// not load).
    NoRegion,
    /// The names and the artifact bucket (empty when the account is not known), or why
    /// a name is not valid.
    Names(Box<Result<(Names, String), NameError>>),
}

impl Derived {
    fn names(&self) -> Option<(&Names, &str)> {
        match self {
            Derived::Names(result) => match result.as_ref() {
                Ok((names, bucket)) => Some((names, bucket.as_str())),
                Err(_) => None,
            },
            _ => None,
        }
    }

    /// The names check.
    fn check(&self) -> Check {
        match self {
            Derived::NoService => checks::names(None),
            Derived::Names(result) => checks::names(Some(result)),
            Derived::NoRegion => checks::not_checked("names", "the region is not known"),
        }
    }

    /// Check `id`, which needs the names, when there are none.
    fn not_checked(&self, id: &'static str) -> Check {
        match self {
            Derived::NoService => Check::unknown(
                id,
                "not checked: no service given (it is scoped to a service's resources)",
                "pass --service NAME (or set SERVICE_NAME)",
            ),
            Derived::NoRegion => checks::not_checked(id, "the region is not known"),
            Derived::Names(_) => Check::unknown(
                id,
                "not checked: the service's names are not valid",
                "fix the service name (see `names`)",
            ),
        }
    }
}

fn derive(
    service: Option<&str>,
    args: &DoctorArgs,
    aws: Option<&Aws>,
    identity: Option<&Identity>,
) -> Derived {
    let Some(service) = service else {
        return Derived::NoService;
    };
    let parsed =
        ServiceName::parse(service).and_then(|s| Ok((s, Stage::parse(&args.service.stage)?)));
    let (service, stage) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return Derived::Names(Box::new(Err(err))),
    };
    let Some(aws) = aws else {
        return Derived::NoRegion;
    };
    let result = Region::parse(aws.region())
        .and_then(|region| Names::derive(&service, &stage, &region))
        .and_then(|names| {
            let bucket = match identity {
                Some(identity) => naming::bucket_or_default(
                    args.bucket.as_deref(),
                    &identity.account,
                    &names.region,
                )?,
                None => args.bucket.clone().unwrap_or_default(),
            };
            Ok((names, bucket))
        });
    Derived::Names(Box::new(result))
}

/// `mb doctor --policy`: the policy for the service's names in the caller's account.
async fn print_policy(args: &DoctorArgs) -> Result<(), Failure> {
    let Some(service) = args.service.given() else {
        return Err(Failure::usage(
            "--policy needs the service: pass --service NAME (or set SERVICE_NAME)",
        ));
    };
    let service = ServiceName::parse(service)?;
    let stage = Stage::parse(&args.service.stage)?;
    // The account: given (no AWS call at all), or the caller's.
    let (account, region) = match &args.account {
        Some(account) => {
            naming::check_account(account)?;
            (account.clone(), aws::region(&args.aws).await?)
        }
        None => {
            let aws = Aws::load(&args.aws).await?;
            (aws.identity().await?.account, aws.region().to_owned())
        }
    };
    let names = Names::derive(&service, &stage, &Region::parse(&region)?)?;
    let bucket = naming::bucket_or_default(args.bucket.as_deref(), &account, &names.region)?;
    let policy = permissions::policy(&Scope {
        names: &names,
        account: &account,
        bucket: &bucket,
    });
    let text = serde_json::to_string_pretty(&policy)
        .map_err(|e| Failure::new(format!("cannot print JSON: {e}")))?;
    crate::ui::print(&(text + "\n"))
}
