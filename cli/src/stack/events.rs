//! Following a stack operation: its events printed once each, oldest first, until the
//! stack settles; and the root cause of a failure picked from them.
//!
//! mb polls on its own every 2 s (docs/deploy.md, "Follow": the SDK's waiters poll 30-120 s apart and
//! count UPDATE_ROLLBACK_COMPLETE as success). DescribeStackEvents lists newest first, so
//! each poll pages from the newest event back to the first one already seen, then prints
//! the new ones in reverse. Stacks are followed by id, which still answers after a delete.
//! Ctrl-C stops following, never the operation: CloudFormation carries on, and the next
//! `mb deploy` waits for it (`interrupted` says so).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{StackEvent, StackStatus};
use aws_smithy_types::DateTime;

use crate::aws::failure;
use crate::error::Failure;
use crate::stack::status::{self, Operation};
use crate::stack::{self, Stack};
use crate::ui::Ui;

/// Default time between polls.
const INTERVAL: Duration = Duration::from_secs(2);
/// How long mb follows one operation before it stops following (the operation goes on).
const LIMIT: Duration = Duration::from_secs(3 * 60 * 60);
/// The root stack's own resource type.
const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// One stack event, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub time: Option<DateTime>,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// An event of the stack itself rather than of one of its resources.
    pub root: bool,
}

impl Event {
    fn from_sdk(event: &StackEvent) -> Option<Event> {
        let logical_id = event.logical_resource_id().unwrap_or_default().to_owned();
        let resource_type = event.resource_type().unwrap_or_default().to_owned();
        Some(Event {
            id: event.event_id()?.to_owned(),
            time: event.timestamp().copied(),
            root: resource_type == STACK_TYPE && event.stack_name() == Some(logical_id.as_str()),
            logical_id,
            resource_type,
            status: event
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: event
                .resource_status_reason()
                .map(str::to_owned)
                .filter(|r| !r.is_empty()),
        })
    }
}

/// The line printed for an event (pure).
pub fn line(event: &Event) -> String {
    let time = event
        .time
        .as_ref()
        .map(stack::format_time)
        .map(|t| t.get(11..19).unwrap_or_default().to_owned())
        .unwrap_or_default();
    let mut text = format!(
        "{time:8}  {:<44}  {:<32}  {}",
        event.status, event.resource_type, event.logical_id
    );
    if let Some(reason) = &event.reason {
        text.push_str("  ");
        text.push_str(reason);
    }
    text
}

/// Reasons CloudFormation gives resources it stopped because another one failed: never
/// the root cause.
const CONSEQUENCES: [&str; 3] = [
    "Resource creation cancelled",
    "Resource update cancelled",
    "Resource deletion cancelled",
];

/// The event that explains a failed operation (pure): the oldest failed resource event
/// that is not merely cancelled because of another; else the oldest failed event; else the
/// oldest stack event with a reason other than "User Initiated".
pub fn root_cause(events: &[Event]) -> Option<&Event> {
    let failed = |e: &&Event| e.status.ends_with("_FAILED") && e.reason.is_some();
    events
        .iter()
        .filter(failed)
        .find(|e| {
            !e.root
                && !CONSEQUENCES
                    .iter()
                    .any(|c| e.reason.as_deref().is_some_and(|r| r.contains(c)))
        })
        .or_else(|| events.iter().find(failed))
        .or_else(|| {
            events
                .iter()
                .find(|e| e.root && e.reason.as_deref().is_some_and(|r| r != "User Initiated"))
        })
}

/// Events newest first, as DescribeStackEvents pages them, cut at the first one already
/// seen and returned oldest first (pure).
pub fn unseen(newest_first: Vec<Event>, seen: &HashSet<String>) -> Vec<Event> {
    let mut fresh: Vec<Event> = newest_first
        .into_iter()
        .take_while(|e| !seen.contains(&e.id))
        .collect();
    fresh.reverse();
    fresh
}

/// The events of one stack mb has already shown (or chose not to show).
#[derive(Debug)]
pub struct Follower {
    stack_id: String,
    seen: HashSet<String>,
    /// Every event printed since following began, oldest first.
    printed: Vec<Event>,
}

impl Follower {
    /// Follows a stack with no events yet (just created).
    pub fn new_stack(stack_id: &str) -> Follower {
        Follower {
            stack_id: stack_id.to_owned(),
            seen: HashSet::new(),
            printed: Vec::new(),
        }
    }

    /// Follows an existing stack: its past events are not printed.
    pub async fn after_existing(client: &Client, stack_id: &str) -> Result<Follower, Failure> {
        let out = client
            .describe_stack_events()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| failure(&e, "CloudFormation DescribeStackEvents"))?;
        let mut follower = Follower::new_stack(stack_id);
        // The first page holds the newest event, where every later poll stops.
        follower.seen = out
            .stack_events()
            .iter()
            .filter_map(|e| e.event_id().map(str::to_owned))
            .collect();
        Ok(follower)
    }

    pub fn stack_id(&self) -> &str {
        &self.stack_id
    }

    /// Events printed so far, oldest first.
    pub fn printed(&self) -> &[Event] {
        &self.printed
    }

    /// The events that appeared since the last poll, oldest first.
    async fn poll(&mut self, client: &Client) -> Result<Vec<Event>, Failure> {
        let mut items = client
            .describe_stack_events()
            .stack_name(&self.stack_id)
            .into_paginator()
            .items()
            .send();
        let mut newest_first = Vec::new();
        while let Some(item) = items.next().await {
            let event = item.map_err(|e| failure(&e, "CloudFormation DescribeStackEvents"))?;
            let Some(event) = Event::from_sdk(&event) else {
                continue;
            };
            if self.seen.contains(&event.id) {
                break;
            }
            // Pages taken while new events arrive could overlap; each event counts once.
            if newest_first.iter().any(|e: &Event| e.id == event.id) {
                continue;
            }
            newest_first.push(event);
        }
        let fresh = unseen(newest_first, &self.seen);
        for event in &fresh {
            self.seen.insert(event.id.clone());
        }
        self.printed.extend(fresh.iter().cloned());
        Ok(fresh)
    }
}

/// How the following ended.
#[derive(Debug)]
pub struct Settled {
    pub status: StackStatus,
    /// The stack as it settled (`None` once deleted and no longer described).
    pub stack: Option<Stack>,
}

/// The time between polls: 2 s, or `MB_POLL_INTERVAL_MS` (for tests; kept within
/// 10 ms..5 s).
pub fn interval() -> Duration {
    std::env::var("MB_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.clamp(10, 5_000)))
        .unwrap_or(INTERVAL)
}

/// Prints the stack's new events until it settles; returns its final state. `operation`
/// names what is being followed, for the progress line.
pub async fn follow(
    client: &Client,
    ui: &Ui,
    follower: &mut Follower,
    operation: Operation,
) -> Result<Settled, Failure> {
    let progress = ui.spinner(&format!(
        "{}: waiting for CloudFormation",
        describe(operation)
    ));
    set_following(Some("in progress"));
    let _following = Following;
    let result = follow_loop(client, &progress, follower).await;
    progress.finish();
    result
}

/// The last status seen of the stack being followed right now, if one is: what Ctrl-C
/// reports. Ctrl-C has one listener, in `main`, so that no step of a command can miss it;
/// the listener asks here what to say.
static FOLLOWING: Mutex<Option<String>> = Mutex::new(None);

fn set_following(status: Option<&str>) {
    if let Ok(mut following) = FOLLOWING.lock() {
        *following = status.map(str::to_owned);
    }
}

/// Clears [`FOLLOWING`] however following ends (settled, failed, or dropped on Ctrl-C).
struct Following;

impl Drop for Following {
    fn drop(&mut self) {
        set_following(None);
    }
}

/// What a command stopped by Ctrl-C ends with (exit code 130): while a stack is being
/// followed, that CloudFormation carries on with it; otherwise where mb stopped.
pub fn interrupted() -> Failure {
    match FOLLOWING.lock().ok().and_then(|f| f.clone()) {
        Some(status) => Failure::interrupted(format!(
            "stopped following the stack (last seen {status}); CloudFormation carries on \
             with it. `mb info` shows where it is, and the next `mb deploy` waits for it"
        )),
        None => Failure::interrupted(
            "interrupted; mb stopped where it was. A stack operation it had already started \
             goes on in CloudFormation: `mb info` shows the stack",
        ),
    }
}

async fn follow_loop(
    client: &Client,
    progress: &crate::ui::Progress,
    follower: &mut Follower,
) -> Result<Settled, Failure> {
    let started = Instant::now();
    let pause = interval();
    loop {
        let stack = stack::describe(client, follower.stack_id()).await?;
        // Events after the status: the last poll then sees every event of the settling.
        for event in follower.poll(client).await? {
            progress.println(&line(&event));
        }
        let status = stack
            .as_ref()
            .map(|s| s.status.clone())
            .unwrap_or(StackStatus::DeleteComplete);
        progress.set_message(status.as_str());
        set_following(Some(status.as_str()));
        if status::is_settled(&status) {
            return Ok(Settled { status, stack });
        }
        if started.elapsed() > LIMIT {
            return Err(Failure::new(format!(
                "stopped following the stack after {} hours (it is {}); CloudFormation \
                 carries on with it. `mb info` shows where it is",
                LIMIT.as_secs() / 3600,
                status.as_str()
            )));
        }
        tokio::time::sleep(pause).await;
    }
}

fn describe(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "creating the stack",
        Operation::Update => "updating the stack",
        Operation::Delete => "deleting the stack",
        Operation::Rollback => "rolling the stack back",
        Operation::Other => "waiting for the stack to settle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, logical: &str, status: &str, reason: Option<&str>) -> Event {
        Event {
            id: id.to_owned(),
            time: Some(DateTime::from_secs(1_795_000_000)),
            logical_id: logical.to_owned(),
            resource_type: if logical == "mb-a-dev" {
                STACK_TYPE.to_owned()
            } else {
                "AWS::Lambda::Function".to_owned()
            },
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            root: logical == "mb-a-dev",
        }
    }

    #[test]
    fn unseen_stops_at_the_first_seen_event_and_reverses() {
        let seen: HashSet<String> = ["e1".to_owned()].into();
        let page = vec![
            event("e4", "mb-a-dev", "UPDATE_COMPLETE", None),
            event("e3", "Function", "UPDATE_COMPLETE", None),
            event("e2", "Function", "UPDATE_IN_PROGRESS", None),
            event("e1", "mb-a-dev", "UPDATE_IN_PROGRESS", None),
            event("e0", "mb-a-dev", "CREATE_COMPLETE", None),
        ];
        let ids: Vec<String> = unseen(page, &seen).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["e2", "e3", "e4"]);
    }

    #[test]
    fn root_cause_is_the_first_real_failure_not_a_cancellation() {
        let events = vec![
            event(
                "1",
                "mb-a-dev",
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            event(
                "2",
                "Table",
                "UPDATE_FAILED",
                Some("Resource update cancelled"),
            ),
            event(
                "3",
                "Function",
                "UPDATE_FAILED",
                Some("Memory size 99999 is too big"),
            ),
            event(
                "4",
                "mb-a-dev",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to update: [Function]."),
            ),
        ];
        assert_eq!(root_cause(&events).map(|e| e.id.as_str()), Some("3"));
    }

    #[test]
    fn root_cause_falls_back_to_the_stack_reason() {
        let events = vec![
            event(
                "1",
                "mb-a-dev",
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            event(
                "2",
                "mb-a-dev",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("Parameter validation failed"),
            ),
        ];
        assert_eq!(root_cause(&events).map(|e| e.id.as_str()), Some("2"));
        assert_eq!(root_cause(&events[..1]), None);
    }

    #[test]
    fn a_line_shows_time_status_type_id_and_reason() {
        let text = line(&event("1", "Function", "UPDATE_FAILED", Some("boom")));
        assert!(text.starts_with("11:06:40  UPDATE_FAILED"), "{text}");
        assert!(text.contains("AWS::Lambda::Function") && text.ends_with("Function  boom"));
    }
}
