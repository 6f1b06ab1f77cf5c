//! `mb logs`: the deployed function's log events.
//!
//! 1. Check the names; load the AWS configuration.
//! 2. FilterLogEvents on the function's log group from `--since` ago, every page.
//! 3. Print each event once, oldest first: readably, or its message as stored (`--json`).
//! 4. With `--follow`, poll again every 2 s from a little before the newest event, until
//!    Ctrl-C, which ends with exit code 0.
//!
//! Polling rather than StartLiveTail: Live Tail is a streaming (event-stream) API that
//! emulators such as moto do not implement and that is billed per session minute;
//! FilterLogEvents behaves the same against AWS and moto (docs/deploy.md).

use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use clap::Args;

use crate::aws::{AwsArgs, failure};
use crate::commands::service::{self, ServiceArgs};
use crate::error::Failure;
use crate::logs::window::Window;
use crate::logs::{Event, format, since};
use crate::naming::Names;
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// How far back to start: 30s, 10m, 2h or 1d
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = since::parse)]
    pub since: Duration,
    /// Keep printing new events until Ctrl-C
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print each event's message as stored, one per line
    #[arg(long)]
    pub json: bool,
}

/// Runs the command. Ctrl-C ends `--follow` normally (exit 0); any other run it stops
/// with exit code 130.
pub async fn run(args: &LogsArgs, ui: &Ui) -> Result<(), Failure> {
    tokio::select! {
        result = show(args, ui) => result,
        _ = tokio::signal::ctrl_c() => {
            if args.follow {
                Ok(())
            } else {
                Err(Failure::interrupted("interrupted; mb logs changes nothing"))
            }
        }
    }
}

async fn show(args: &LogsArgs, ui: &Ui) -> Result<(), Failure> {
    let (names, aws) = service::connect(&args.service, &args.aws, ui).await?;
    let client = aws.logs();
    let since_ms = i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let floor = mb_lambda::clock::now_ms().saturating_sub(since_ms);
    let pause = crate::stack::events::interval();
    let mut window = Window::default();
    let mut start = floor;
    loop {
        let fetched = fetch(&client, &names, start).await?;
        let fresh = window.fresh(fetched);
        if !args.follow && fresh.is_empty() {
            ui.line(&format!(
                "no log events in {} since {}",
                names.log_group,
                format::time(floor)
            ));
        }
        print(&fresh, args.json)?;
        if !args.follow {
            return Ok(());
        }
        start = window.start(floor);
        tokio::time::sleep(pause).await;
    }
}

/// Every event of the log group from `start` (milliseconds since 1970), following each
/// page, in the order they come.
async fn fetch(client: &Client, names: &Names, start: i64) -> Result<Vec<Event>, Failure> {
    let mut pages = client
        .filter_log_events()
        .log_group_name(&names.log_group)
        .start_time(start)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            let missing = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception());
            if missing {
                no_log_group(names)
            } else {
                failure(&err, "CloudWatchLogs FilterLogEvents")
            }
        })?;
        events.extend(page.events().iter().filter_map(|e| {
            Some(Event {
                id: e.event_id()?.to_owned(),
                timestamp: e.timestamp()?,
                ingestion: e.ingestion_time().unwrap_or_default(),
                stream: e.log_stream_name().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
            })
        }));
    }
    Ok(events)
}

fn no_log_group(names: &Names) -> Failure {
    let (service, stage) = (&names.service, &names.stage);
    Failure::new(format!(
        "no log group {} in {}: the function of service `{service}` stage `{stage}` has not \
         run yet, or the service is not deployed there (check with `mb info --service \
         {service} --stage {stage}`)",
        names.log_group, names.region
    ))
}

fn print(events: &[Event], json: bool) -> Result<(), Failure> {
    if events.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for event in events {
        if json {
            text.push_str(format::raw(event));
        } else {
            text.push_str(&format::line(event));
        }
        text.push('\n');
    }
    crate::ui::print(&text)
}
