//! `mb`: a zero-operations WebSocket broadcast backend on AWS in one command.
//!
//! This file parses the command line, runs the command and turns its result into an exit
//! code (0 success, 1 failure, 2 usage error, 130 Ctrl-C); nothing else.

mod artifacts;
mod aws;
mod build;
mod commands;
mod dev;
mod doctor;
mod error;
mod lockdown;
mod naming;
mod permissions;
mod preflight;
mod stack;
mod template;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mb",
    version,
    about = "A WebSocket broadcast backend on AWS in one command"
)]
struct Cli {
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
    /// Delete the deployed service and its uploaded packages
    Destroy(commands::destroy::DestroyArgs),
    /// Check, without changing anything, whether a deploy would work and what to fix
    Doctor(commands::doctor::DoctorArgs),
}

fn main() -> ExitCode {
    // Usage errors print clap's message and exit 2 here, in the binary.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(mb_lambda::logs::filter("warn,mb=info,mb_lambda=info"))
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => commands::dev::run(args).await,
            Command::Build(args) => commands::build::run(&args, &ui::Ui::detect()),
            Command::Template(args) => commands::template::run(&args, &ui::Ui::detect()),
            Command::Deploy(args) => {
                until_ctrl_c(commands::deploy::run(&args, &ui::Ui::detect())).await
            }
            Command::Info(args) => {
                until_ctrl_c(commands::info::run(&args, &ui::Ui::detect())).await
            }
            Command::Destroy(args) => {
                until_ctrl_c(commands::destroy::run(&args, &ui::Ui::detect())).await
            }
            Command::Doctor(args) => {
                until_ctrl_c(commands::doctor::run(&args, &ui::Ui::detect())).await
            }
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

/// Runs an AWS command until it ends or Ctrl-C comes, which stops mb where it is (never
/// an operation CloudFormation has started) with exit code 130 and a message saying so.
async fn until_ctrl_c(
    command: impl std::future::Future<Output = Result<(), error::Failure>>,
) -> Result<(), error::Failure> {
    // The message is decided as the signal comes, before the command is dropped (which
    // ends its following).
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
        stack::events::interrupted()
    };
    tokio::select! {
        result = command => result,
        failure = interrupted => Err(failure),
    }
}
