//! The template linters `./scripts/test` installs into `.venv`: cfn-lint and checkov on
//! the rendered template. (cargo-zigbuild, for `mb build`, is `build/`'s rig.)

mod template_cfn_lint;
mod template_checkov;
