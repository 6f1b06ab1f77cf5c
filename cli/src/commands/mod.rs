//! One file per subcommand; each reads like the README's steps for it.

pub mod dev;
