//! `mb`: a zero-operations WebSocket broadcast backend on AWS in one command.
//!
//! This file parses the command line, runs the command and turns its result into an exit
//! code (0 success, 1 failure, 2 usage error, 130 Ctrl-C); nothing else.

mod artifacts;
mod aws;
mod build;
mod commands;
mod concurrency;
mod console;
mod dev;
#[cfg(test)]
mod docs;
mod doctor;
mod error;
mod lockdown;
mod logs;
mod naming;
mod permissions;
mod preflight;
mod project;
mod settings;
mod stack;
mod template;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mb",
    version,
    about = "A WebSocket broadcast backend on AWS in one command"
)]
struct Cli {
    /// The project file: saved flags and settings for one service (default: ./mb.toml if
    /// it exists)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the broadcast handler locally on real WebSockets (no AWS account needed)
    Dev(commands::dev::DevArgs),
    /// Cross-compile the broadcast function for Lambda and zip it
    Build(commands::build::BuildArgs),
    /// Print the CloudFormation template for a service (no AWS call)
    Template(commands::template::TemplateArgs),
    /// Build, upload and deploy the service; print its wss:// URL
    Deploy(commands::deploy::DeployArgs),
    /// Show the deployed service: status, URL, outputs, connections
    Info(commands::info::InfoArgs),
    /// Show the deployed function's log events
    Logs(commands::logs::LogsArgs),
    /// Send a message to a channel (or the default room) of the deployed service or `mb dev`
    Publish(commands::publish::PublishArgs),
    /// Delete the deployed service and its uploaded packages
    Destroy(commands::destroy::DestroyArgs),
    /// Check, without changing anything, whether a deploy would work and what to fix
    Doctor(commands::doctor::DoctorArgs),
    /// Mint a token a client connects with (`?token=`) when tokens are required
    Token(commands::token::TokenArgs),
    /// Serve the browser console on 127.0.0.1, pointed at the deployed service
    Console(commands::console::ConsoleArgs),
}

fn main() -> ExitCode {
    // Usage errors print clap's message and exit 2 here, in the binary.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // The SDK's own warnings (IMDS probes with no AWS settings, retries) are debug
        // dumps, not advice: mb reports what failed in one line of its own.
        .with_env_filter(mb_lambda::logs::filter("error,mb=info,mb_lambda=info"))
        .with_target(false)
        .with_ansi(ui::colour(std::io::stderr().is_terminal()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let command = match with_project(cli.command, cli.config.as_deref(), &matches) {
        Ok(command) => command,
        Err(failure) => {
            eprintln!("error: {failure}");
            return ExitCode::from(failure.exit_code());
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Dev(args) => commands::dev::run(args).await,
            Command::Build(args) => commands::build::run(&args, &ui::Ui::detect()),
            Command::Template(args) => commands::template::run(&args, &ui::Ui::detect()),
            Command::Deploy(args) => {
                until_ctrl_c(commands::deploy::run(&args, &ui::Ui::detect())).await
            }
            Command::Info(args) => {
                until_ctrl_c(commands::info::run(&args, &ui::Ui::detect())).await
            }
            // Ctrl-C ends `mb logs --follow` with exit code 0: the command handles it.
            Command::Logs(args) => commands::logs::run(&args, &ui::Ui::detect()).await,
            Command::Publish(args) => {
                until_ctrl_c(commands::publish::run(&args, &ui::Ui::detect())).await
            }
            Command::Destroy(args) => {
                until_ctrl_c(commands::destroy::run(&args, &ui::Ui::detect())).await
            }
            Command::Doctor(args) => {
                until_ctrl_c(commands::doctor::run(&args, &ui::Ui::detect())).await
            }
            Command::Token(args) => {
                until_ctrl_c(commands::token::run(&args, &ui::Ui::detect())).await
            }
            // Ctrl-C stops the console's server with exit code 0, as for `mb dev`.
            Command::Console(args) => commands::console::run(&args, &ui::Ui::detect()).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// The command with what `mb.toml` (or `--config`) says filled in where the command line
/// said nothing. Commands that act on no deployed service never read the file.
fn with_project(
    mut command: Command,
    config: Option<&std::path::Path>,
    matches: &ArgMatches,
) -> Result<Command, error::Failure> {
    // `mb token --secret-file` signs with a file, for `mb dev`: no deployed service.
    if matches!(
        command,
        Command::Dev(_)
            | Command::Build(_)
            | Command::Token(commands::token::TokenArgs {
                secret_file: Some(_),
                ..
            })
    ) {
        if let Command::Token(_) = &command {
            let sub = matches.subcommand().map(|(_, m)| m);
            if sub.and_then(|m| m.value_source("service")) == Some(ValueSource::CommandLine) {
                return Err(error::Failure::usage(
                    "give --secret-file (mb dev's secret) or --service (a deployed service's), not both",
                ));
            }
        }
        return Ok(command);
    }
    let project = project::load(config)?;
    let sub = matches.subcommand().map(|(_, m)| m);
    let on_command_line =
        |id: &str| sub.and_then(|m| m.value_source(id)) == Some(ValueSource::CommandLine);
    match &mut command {
        Command::Dev(_) | Command::Build(_) => {}
        Command::Token(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws)
        }
        Command::Template(args) => project.fill(
            &on_command_line,
            &mut args.service,
            Some(&mut args.region),
            None,
        ),
        Command::Deploy(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws);
            args.settings.given = std::mem::take(&mut args.settings.given).over(&project.settings);
        }
        Command::Info(args) => project.fill_aws(&on_command_line, &mut args.service, &mut args.aws),
        Command::Logs(args) => project.fill_aws(&on_command_line, &mut args.service, &mut args.aws),
        Command::Publish(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws)
        }
        Command::Destroy(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws)
        }
        Command::Doctor(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws);
            args.settings = project.settings.clone();
        }
        Command::Console(args) => {
            project.fill_aws(&on_command_line, &mut args.service, &mut args.aws)
        }
    }
    Ok(command)
}

/// Runs an AWS command until it ends or Ctrl-C comes, which stops mb where it is (never
/// an operation CloudFormation has started) with exit code 130 and a message saying so.
/// Either way, a change set the command created and did not execute is then deleted.
async fn until_ctrl_c(
    command: impl std::future::Future<Output = Result<(), error::Failure>>,
) -> Result<(), error::Failure> {
    // The message is decided as the signal comes, before the command is dropped (which
    // ends its following).
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
        stack::events::interrupted()
    };
    // `biased`: the listener is set up before the command first runs, so that a Ctrl-C
    // at a prompt (console raises SIGINT) never meets the default action, which kills.
    let result = tokio::select! {
        biased;
        failure = interrupted => Err(failure),
        result = command => result,
    };
    stack::cleanup::delete_remembered(&ui::Ui::detect()).await;
    result
}
