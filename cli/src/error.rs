//! The error a command ends with, and its exit code.

use std::fmt;

/// A command's failure: one message naming what is wrong and how to fix it. Exit code 1,
/// or 2 for a usage error found after parsing (an invalid service name), or 130 when the
/// user pressed Ctrl-C; clap's own usage errors exit 2 before a command runs.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// Bad input on the command line or in the environment (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// Stopped by Ctrl-C (exit code 130, as a shell reports SIGINT).
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 130,
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
