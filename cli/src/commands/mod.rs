//! One file per subcommand; each reads like the README's steps for it.

pub mod build;
pub mod dev;
pub mod service;
pub mod template;
