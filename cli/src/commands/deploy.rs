//! `mb deploy`: from source to a live `wss://` endpoint.
//!
//! 1. Check the service and stage names; load the AWS configuration; ask STS for the account;
//!    refuse what would fail late: a `--bucket` in another region, a name the stack would
//!    create that is taken (`crate::preflight`).
//!    Read the account's concurrency and decide the function's reservation; refuse a
//!    `--reserved-concurrency` the account cannot spare (`crate::concurrency`).
//! 2. Build and zip the function (unless `--artifact`).
//! 3. Make sure the artifact bucket exists, is ours and is locked down; upload the zip
//!    unless the object under its key has the zip's SHA-256 checksum.
//! 4. Render the template for this service and package.
//! 5. Bring the stack to a state it can be deployed from (wait, recreate, roll back; the
//!    table in `stack::status`), then create it or preview and apply a change set.
//! 6. Follow the stack's events until it settles; on failure, name the root cause.
//! 7. Print the outputs, the `wss://` URL first.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{ChangeSetType, StackStatus};
use clap::Args;

use crate::artifacts::{Bucket, Found, Upload};
use crate::aws::AwsArgs;
use crate::commands::build::{self, BuildArgs};
use crate::commands::service::{self, ServiceArgs};
use crate::concurrency;
use crate::error::Failure;
use crate::lockdown::Owner;
use crate::naming::{self, Names};
use crate::preflight;
use crate::settings::{self, Settings, SettingsArgs};
use crate::stack::ParameterValue;
use crate::stack::changeset::{self, Change, Computed};
use crate::stack::events::{self, Follower, Settled};
use crate::stack::status::{self, Action, Operation};
use crate::stack::{self, Request, Stack, cleanup};
use crate::template;
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Artifact bucket (default: mb-artifacts-<account>-<region>, created if missing)
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
    /// Do not ask: apply the changes, and delete a failed stack or continue a failed
    /// rollback when that is what it takes
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Steps of "bring the stack to a deployable state" before mb gives up: wait, recreate
/// or roll back, and wait again, with room to spare.
const MAX_STEPS: usize = 6;

pub async fn run(args: &DeployArgs, ui: &Ui) -> Result<(), Failure> {
    // 1. Names, configuration, account.
    if let Some(bucket) = &args.bucket {
        naming::check_bucket(bucket)?;
    }
    let (names, aws) = service::connect(&args.service, &args.aws, ui).await?;
    let identity = aws.identity().await?;
    ui.line(&format!(
        "deploying {} to account {} in {} as {}",
        names.stack,
        identity.account,
        aws.region(),
        identity.arn
    ));
    // Described once here for both decisions; the deploy proper describes it afresh.
    let current = stack::describe(&aws.cloudformation(), &names.stack).await?;
    let deployed = current
        .as_ref()
        .map_or(&[][..], |s| s.parameters.as_slice());
    settings::key_set_needs_issuer(&args.settings.given, deployed).map_err(Failure::usage)?;
    let found = preflight::look(
        &aws,
        &names,
        &identity.account,
        args.bucket.as_deref(),
        current.as_ref(),
        settings::creates_token_secret(&args.settings.given, deployed),
    )
    .await?;
    if let Some(refused) = preflight::refusal(&names.stack, &preflight::problems(&found)) {
        return Err(refused);
    }
    let computed = reservation(args, &aws, current.as_ref(), ui).await?;
    if let Some(warning) = open_warning(&args.settings.given, current.as_ref()) {
        ui.line(&warning);
    }

    // 2. The package.
    let artifact = build::artifact(&args.build, ui)?;

    // 3. The artifact bucket and the upload.
    let bucket = Bucket {
        name: naming::bucket_or_default(args.bucket.as_deref(), &identity.account, &names.region)?,
        owner: identity.account.clone(),
        require_tls: !aws.s3_without_tls(),
    };
    let s3 = aws.s3();
    let partition = identity.partition(aws.region());
    match bucket.ensure(&s3, aws.region(), &partition).await? {
        Found::Created => ui.line(&format!(
            "created the artifact bucket {} (private, encrypted{})",
            bucket.name,
            if bucket.require_tls {
                ", TLS only"
            } else {
                "; no TLS-only policy, as the endpoint is plain HTTP"
            }
        )),
        Found::Existing => {
            let default = naming::artifact_bucket(&identity.account, &names.region)?;
            let owner = if bucket.name == default {
                Owner::Mb
            } else {
                Owner::User
            };
            for said in bucket.verify_lock_down(&s3, owner, &partition).await? {
                ui.line(&said);
            }
        }
    }
    let key = names.artifact_key(&artifact.sha256);
    match bucket
        .upload(&s3, &key, &artifact.zip, &artifact.sha256)
        .await?
    {
        Upload::AlreadyThere => ui.line(&format!("s3://{}/{key} is already uploaded", bucket.name)),
        Upload::Uploaded => ui.line(&format!(
            "uploaded s3://{}/{key} ({} bytes)",
            bucket.name,
            artifact.zip.len()
        )),
        Upload::Replaced => ui.line(&format!(
            "uploaded s3://{}/{key} ({} bytes) in place of an object with other content (or \
             no SHA-256 checksum)",
            bucket.name,
            artifact.zip.len()
        )),
    }

    // 4. The package's parameters and the tags; the template is rendered for each
    // request (`Deployer::request`), its deployment named for the values it deploys.
    let request = Request {
        template_body: String::new(),
        parameters: vec![
            (
                "ArtifactBucket".into(),
                ParameterValue::Given(bucket.name.clone()),
            ),
            ("ArtifactKey".into(), ParameterValue::Given(key)),
            (
                "Architecture".into(),
                ParameterValue::Given(args.build.arch.flag().into()),
            ),
        ],
        tags: vec![
            ("mb:service".into(), names.service.to_string()),
            ("mb:stage".into(), names.stage.to_string()),
        ],
    };
    // 5-6. The stack.
    let deployer = Deployer {
        cf: aws.cloudformation(),
        ui,
        names: &names,
        request: &request,
        settings: &args.settings.given,
        computed: &computed,
        yes: args.yes,
    };
    let stack = deployer.converge().await?;

    // 7. The outputs.
    crate::ui::print(&outputs_text(&stack))
}

/// The function's reservation, decided before any change (`crate::concurrency`): said in
/// one line (after a warning if the account's concurrency cannot be read), a given value
/// the account cannot spare refused (exit 2). Returns the computed settings a create
/// passes where nothing was given.
async fn reservation(
    args: &DeployArgs,
    aws: &crate::aws::Aws,
    current: Option<&Stack>,
    ui: &Ui,
) -> Result<Settings, Failure> {
    let account = concurrency::account(&aws.lambda()).await;
    let plan = concurrency::plan(
        args.settings.given.get(concurrency::KEY),
        concurrency::deployed(current),
        &account,
    )
    .map_err(Failure::usage)?;
    if let Some(warning) = &plan.warning {
        ui.line(&format!("warning: {warning}"));
    }
    ui.line(&plan.said);
    let mut computed = Settings::default();
    if let Some(setting) = settings::find(concurrency::KEY) {
        computed.set(setting, plan.computed);
    }
    Ok(computed)
}

/// The one-line warning of a deploy that leaves the endpoint open: `auth` given as
/// `none`, or not given and neither deployed as `jwt` (pure).
pub fn open_warning(given: &Settings, current: Option<&Stack>) -> Option<String> {
    let auth = match given.value("auth") {
        Some(value) => value.parameter(),
        None => current
            .and_then(|s| s.parameters.iter().find(|(k, _)| k == "Auth"))
            .map_or_else(|| "none".to_owned(), |(_, v)| v.clone()),
    };
    (auth != "jwt").then(|| {
        "warning: auth is none: anyone who learns the wss:// URL can connect and send \
         messages you pay for; require tokens with `--auth jwt` (docs/security.md)"
            .to_owned()
    })
}

/// The stack part of a deploy, with what every step needs.
struct Deployer<'a> {
    cf: Client,
    ui: &'a Ui,
    names: &'a Names,
    /// The package's parameters and the tags: the same for every step (the template is
    /// rendered for each request).
    request: &'a Request,
    /// The settings given (flags over `mb.toml`); the others keep their deployed values.
    settings: &'a Settings,
    /// Computed defaults, passed for a setting neither given nor deployed.
    computed: &'a Settings,
    yes: bool,
}

impl Deployer<'_> {
    /// Acts on the stack's status until it is created or updated (or nothing changed).
    async fn converge(&self) -> Result<Stack, Failure> {
        for _ in 0..MAX_STEPS {
            let current = stack::describe(&self.cf, &self.names.stack).await?;
            let action = status::deploy_action(current.as_ref().map(|s| &s.status));
            let Some(current) = current else {
                return self.create().await;
            };
            let state = current.status.as_str();
            match action {
                Action::Create => return self.create().await,
                Action::CreateWithChangeSet => {
                    return self.change(&current, ChangeSetType::Create).await;
                }
                Action::Update { last_failed } => {
                    if last_failed {
                        self.ui.line(
                            "note: the last deploy of this stack failed and was rolled back \
                             (UPDATE_ROLLBACK_COMPLETE); deploying again",
                        );
                    }
                    return self.change(&current, ChangeSetType::Update).await;
                }
                Action::Wait => {
                    self.ui.line(&format!(
                        "the stack is {state}: {}; waiting for it",
                        status::meaning(&current.status)
                    ));
                    self.follow_existing(&current, Operation::Other).await?;
                }
                Action::Recreate => {
                    let why = current
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    self.confirm(&format!(
                        "The stack {} failed to create and is {state}{why}; it has no working \
                         resources and cannot be updated. Delete it and create it again?",
                        self.names.stack
                    ))?;
                    let followed = self
                        .follow_after(&current, Operation::Delete, || {
                            stack::delete(&self.cf, &current.id)
                        })
                        .await?;
                    self.finish(Operation::Delete, followed)?;
                }
                Action::RollBack => {
                    self.ui.line(&format!(
                        "the stack is {state}: rolling it back before deploying"
                    ));
                    let followed = self
                        .follow_after(&current, Operation::Rollback, || {
                            stack::roll_back(&self.cf, &current.id)
                        })
                        .await?;
                    self.finish(Operation::Rollback, followed)?;
                }
                Action::ContinueRollback => {
                    self.confirm(&format!(
                        "The stack {} is {state}: an update failed and so did its rollback. \
                         Continue the rollback (ContinueUpdateRollback), then deploy?",
                        self.names.stack
                    ))?;
                    let followed = self
                        .follow_after(&current, Operation::Rollback, || {
                            stack::continue_rollback(&self.cf, &current.id)
                        })
                        .await?;
                    self.finish(Operation::Rollback, followed)?;
                }
                Action::Blocked(why) => {
                    return Err(Failure::new(format!(
                        "cannot deploy {}: {why}",
                        self.names.stack
                    )));
                }
            }
        }
        Err(Failure::new(format!(
            "the stack {} did not reach a state mb can deploy to after {MAX_STEPS} steps; \
             `mb info` shows where it is",
            self.names.stack
        )))
    }

    /// What a create (`current` is `None`) or an update of `current` sends: the package's
    /// parameters and the settings, where a setting not given keeps the value `current`
    /// has deployed, and the template rendered for the values those parameters will have
    /// (with the resources it creates, a first create's preview).
    fn request(&self, current: Option<&Stack>) -> Result<(Request, Vec<Change>), Failure> {
        let deployed: &[(String, String)] = current.map_or(&[], |s| s.parameters.as_slice());
        let names: Vec<&str> = deployed.iter().map(|(k, _)| k.as_str()).collect();
        let mut request = self.request.clone();
        request
            .parameters
            .extend(self.settings.parameters(&names, self.computed));
        let rendered = template::render(self.names, &request.values(deployed))?;
        request.template_body = template::to_json(&rendered)?;
        let preview = template::resources(&rendered)
            .into_iter()
            .map(|(logical_id, resource_type)| Change {
                action: "Add".into(),
                logical_id,
                resource_type,
                replacement: None,
            })
            .collect();
        Ok((request, preview))
    }

    /// A first create: CreateStack, whose preview is the template's resource list.
    async fn create(&self) -> Result<Stack, Failure> {
        let (request, preview) = self.request(None)?;
        self.ui.line(&format!(
            "creating the stack {} with these resources:\n{}",
            self.names.stack,
            changeset::table(&preview).trim_end()
        ));
        if !self.yes && self.ui.confirm("Create the stack?")? == Some(false) {
            return Err(Failure::new("deploy cancelled; nothing was created"));
        }
        let id = stack::create(&self.cf, &self.names.stack, &request).await?;
        let mut follower = Follower::new_stack(&id);
        let settled = events::follow(&self.cf, self.ui, &mut follower, Operation::Create).await?;
        self.finish(Operation::Create, (settled, follower))
    }

    /// An update (or a create from REVIEW_IN_PROGRESS) through a change set. A change set
    /// that is not executed is deleted, whichever way this ends (`stack::cleanup`).
    async fn change(&self, current: &Stack, kind: ChangeSetType) -> Result<Stack, Failure> {
        let now = mb_lambda::clock::now_ms() / 1000;
        let name = changeset::name(now, changeset::random()?);
        let (request, _) = self.request((kind == ChangeSetType::Update).then_some(current))?;
        let progress = self.ui.spinner("preparing the change set");
        let created =
            changeset::create(&self.cf, &self.names.stack, &name, kind.clone(), &request).await;
        let Some(id) = created? else {
            progress.finish();
            return Ok(self.unchanged(current));
        };
        cleanup::remember(&self.cf, &id);
        let computed = changeset::wait(&self.cf, &id, events::interval()).await;
        progress.finish();
        let changes = match computed {
            Ok(Computed::Ready(changes)) => changes,
            Ok(Computed::Empty) => {
                cleanup::discard(&self.cf, self.ui, &id).await;
                return Ok(self.unchanged(current));
            }
            Err(failure) => {
                cleanup::discard(&self.cf, self.ui, &id).await;
                return Err(failure);
            }
        };
        self.ui.line(&format!(
            "changes to the stack {}:\n{}",
            self.names.stack,
            changeset::table(&changes).trim_end()
        ));
        if !self.yes && self.ui.confirm("Deploy these changes?")? == Some(false) {
            cleanup::discard(&self.cf, self.ui, &id).await;
            return Err(Failure::new("deploy cancelled; nothing was changed"));
        }
        let operation = if kind == ChangeSetType::Create {
            Operation::Create
        } else {
            Operation::Update
        };
        let followed = self
            .follow_after(current, operation, || async {
                cleanup::forget(&id);
                let executed = changeset::execute(&self.cf, &id).await;
                if executed.is_err() {
                    cleanup::discard(&self.cf, self.ui, &id).await;
                }
                executed
            })
            .await?;
        self.finish(operation, followed)
    }

    /// A deploy with nothing to change: said, and the stack as it is.
    fn unchanged(&self, current: &Stack) -> Stack {
        self.ui.line(&format!(
            "no changes: the stack {} is up to date",
            self.names.stack
        ));
        current.clone()
    }

    /// Follows an operation someone else started until the stack settles.
    async fn follow_existing(&self, current: &Stack, operation: Operation) -> Result<(), Failure> {
        let mut follower = Follower::after_existing(&self.cf, &current.id).await?;
        events::follow(&self.cf, self.ui, &mut follower, operation).await?;
        Ok(())
    }

    /// Starts `operation` with `start` and follows it: events from before it are skipped.
    async fn follow_after<F, Fut>(
        &self,
        current: &Stack,
        operation: Operation,
        start: F,
    ) -> Result<(Settled, Follower), Failure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), Failure>>,
    {
        let mut follower = Follower::after_existing(&self.cf, &current.id).await?;
        start().await?;
        let settled = events::follow(&self.cf, self.ui, &mut follower, operation).await?;
        Ok((settled, follower))
    }

    /// The stack once `operation` ended well; else a failure naming the root cause.
    fn finish(
        &self,
        operation: Operation,
        (settled, follower): (Settled, Follower),
    ) -> Result<Stack, Failure> {
        if !status::succeeded(operation, &settled.status) {
            return Err(failed(operation, &settled.status, follower.printed()));
        }
        self.ui.line(&format!(
            "{} is {}",
            self.names.stack,
            settled.status.as_str()
        ));
        Ok(settled
            .stack
            .unwrap_or_else(|| Stack::gone(follower.stack_id(), &self.names.stack)))
    }

    /// Goes on if `--yes` or the user agrees; without a terminal, asks for `--yes`.
    fn confirm(&self, question: &str) -> Result<(), Failure> {
        if self.yes {
            return Ok(());
        }
        match self.ui.confirm(question)? {
            Some(true) => Ok(()),
            Some(false) => Err(Failure::new("deploy cancelled; the stack is as it was")),
            None => Err(Failure::usage(format!(
                "{question} Pass --yes to agree (there is no terminal to ask on)"
            ))),
        }
    }
}

/// The failure of `operation`, which left the stack in `status`, with its root cause from
/// the events (pure).
pub fn failed(operation: Operation, status: &StackStatus, events: &[events::Event]) -> Failure {
    let what = match operation {
        Operation::Create => "creating the stack failed",
        Operation::Update => "the update failed",
        Operation::Delete => "deleting the stack failed",
        Operation::Rollback => "the rollback failed",
        Operation::Other => "the stack's operation failed",
    };
    let after = match status.as_str() {
        "UPDATE_ROLLBACK_COMPLETE" => "; it was rolled back and the previous version keeps running",
        "ROLLBACK_COMPLETE" => {
            "; it was rolled back, and the next `mb deploy` deletes and recreates it"
        }
        _ => "",
    };
    let cause = events::root_cause(events)
        .map(|e| {
            format!(
                ". Cause: {} ({}) {}: {}",
                e.logical_id,
                e.resource_type,
                e.status,
                e.reason.as_deref().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    Failure::new(format!("{what} (now {}){after}{cause}", status.as_str()))
}

/// What `mb deploy` prints on stdout (pure): the URL alone on the first line, so
/// `mb deploy ... | head -1` is the URL; a hint to try it; then every other output.
pub fn outputs_text(stack: &Stack) -> String {
    let mut out = String::new();
    let url = stack.output("WebSocketUrl");
    if let Some(url) = url {
        out.push_str(url);
        out.push_str("\n\n");
        out.push_str(&format!(
            "  try it:  wscat -c {url}    (wscat: npm install -g wscat)\n\n"
        ));
    }
    let rest: Vec<&(String, String, Option<String>)> = stack
        .outputs
        .iter()
        .filter(|(k, ..)| k != "WebSocketUrl")
        .collect();
    let width = rest.iter().map(|(k, ..)| k.len()).max().unwrap_or(0);
    for (key, value, _) in rest {
        out.push_str(&format!("  {key:width$}  {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(outputs: &[(&str, &str)]) -> Stack {
        let mut stack = Stack::gone("id", "mb-a-dev");
        stack.outputs = outputs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned(), None))
            .collect();
        stack
    }

    #[test]
    fn the_url_comes_first_then_a_hint_then_the_other_outputs() {
        let text = outputs_text(&stack(&[
            ("ApiId", "abc123"),
            (
                "WebSocketUrl",
                "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev",
            ),
            ("Table", "mb-a-dev-rooms"),
        ]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"
        );
        assert!(lines[2].contains("wscat -c wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"));
        assert_eq!(lines[4], "  ApiId  abc123");
        assert_eq!(lines[5], "  Table  mb-a-dev-rooms");
    }

    #[test]
    fn an_open_endpoint_is_warned_about() {
        let auth = settings::find("auth").unwrap();
        let jwt = |value: &str| {
            let mut given = Settings::default();
            given.set_value(auth, settings::Value::Text(value.into()));
            given
        };
        let mut deployed = stack(&[]);
        assert!(open_warning(&Settings::default(), None).is_some());
        assert!(open_warning(&jwt("jwt"), None).is_none());
        assert!(
            open_warning(&jwt("none"), None)
                .unwrap()
                .contains("--auth jwt")
        );
        deployed.parameters = vec![("Auth".into(), "jwt".into())];
        assert!(open_warning(&Settings::default(), Some(&deployed)).is_none());
        assert!(open_warning(&jwt("none"), Some(&deployed)).is_some());
    }

    #[test]
    fn a_failure_names_the_outcome_and_the_root_cause() {
        let events = vec![events::Event {
            id: "1".into(),
            time: None,
            logical_id: "Function".into(),
            resource_type: "AWS::Lambda::Function".into(),
            status: "UPDATE_FAILED".into(),
            reason: Some("Memory size 99999 is too big".into()),
            root: false,
        }];
        let text = failed(
            Operation::Update,
            &StackStatus::UpdateRollbackComplete,
            &events,
        )
        .to_string();
        assert_eq!(
            text,
            "the update failed (now UPDATE_ROLLBACK_COMPLETE); it was rolled back and the \
             previous version keeps running. Cause: Function (AWS::Lambda::Function) \
             UPDATE_FAILED: Memory size 99999 is too big"
        );
        let create = failed(Operation::Create, &StackStatus::RollbackComplete, &[]).to_string();
        assert!(
            create.contains("the next `mb deploy` deletes and recreates it"),
            "{create}"
        );
    }
}
