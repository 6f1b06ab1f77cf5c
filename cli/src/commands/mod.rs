//! One file per subcommand; each reads like the README's steps for it.

pub mod build;
pub mod console;
pub mod deploy;
pub mod destroy;
pub mod dev;
pub mod doctor;
pub mod info;
pub mod logs;
pub mod publish;
pub mod service;
pub mod template;
pub mod token;
