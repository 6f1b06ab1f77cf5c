//! The tools `./scripts/test` installs into `.venv`: cfn-lint and checkov on the rendered
//! template, cargo-zigbuild for `mb build`.

mod package_zigbuild;
mod template_cfn_lint;
mod template_checkov;
