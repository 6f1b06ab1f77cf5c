//! The error a command ends with, and its exit code.

use std::fmt;

/// A command's failure (exit code 1): one message naming what is wrong and how to fix
/// it. Usage errors are clap's, and exit 2 before a command runs.
#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::dev::DevError> for Failure {
    fn from(err: crate::dev::DevError) -> Self {
        Failure::new(err.to_string())
    }
}

impl From<crate::aws::ConfigError> for Failure {
    fn from(err: crate::aws::ConfigError) -> Self {
        Failure::new(err.to_string())
    }
}
