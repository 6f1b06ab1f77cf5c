//! The optional project file `mb.toml`: saved flags for one service, so a team can commit
//! how it deploys. It holds `service`, `stage`, `region`, `profile` and any setting of
//! [`crate::settings::SETTINGS`] under the setting's flag name:
//!
//! ```toml
//! service = "chat"
//! stage = "prod"
//! region = "eu-west-1"
//! memory = 512
//! log-retention = 30
//! auth = "jwt"
//! allow-origin = ["https://app.example.com"]
//! ```
//!
//! A flag given on the command line wins over the file; the file wins over the
//! environment (`SERVICE_NAME`, `AWS_REGION`, `AWS_PROFILE`) and the defaults. `--config
//! PATH` names the file; without it `./mb.toml` is read if it exists. An unknown key, a
//! value of the wrong type or out of range is a usage error (exit 2) naming the file and
//! the key, before any AWS call.

use std::path::{Path, PathBuf};

use crate::aws::AwsArgs;
use crate::commands::service::ServiceArgs;
use crate::error::Failure;
use crate::settings::{self, Allowed, Settings, Value};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "mb.toml";

/// What the file says; all of it optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub service: Option<String>,
    pub stage: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub settings: Settings,
}

/// The keys besides the settings.
const NAMES: [&str; 4] = ["service", "stage", "region", "profile"];

impl Project {
    /// Fills in what the command line did not give (`on_command_line(id)` is false for
    /// the flag `id`) from the file: the service, the stage, and, where the command takes
    /// them, the region and the profile.
    pub fn fill(
        &self,
        on_command_line: &dyn Fn(&str) -> bool,
        service: &mut ServiceArgs,
        region: Option<&mut Option<String>>,
        profile: Option<&mut Option<String>>,
    ) {
        if let Some(name) = self
            .service
            .as_ref()
            .filter(|_| !on_command_line("service"))
        {
            service.service = Some(name.clone());
        }
        if let Some(stage) = self.stage.as_ref().filter(|_| !on_command_line("stage")) {
            service.stage = stage.clone();
        }
        for (id, slot, value) in [
            ("region", region, &self.region),
            ("profile", profile, &self.profile),
        ] {
            if let (Some(slot), Some(value)) = (slot, value)
                && !on_command_line(id)
            {
                *slot = Some(value.clone());
            }
        }
    }

    /// [`Project::fill`] for the commands that take [`AwsArgs`].
    pub fn fill_aws(
        &self,
        on_command_line: &dyn Fn(&str) -> bool,
        service: &mut ServiceArgs,
        aws: &mut AwsArgs,
    ) {
        self.fill(
            on_command_line,
            service,
            Some(&mut aws.region),
            Some(&mut aws.profile),
        );
    }
}

/// Reads `--config PATH` (which must exist) or `./mb.toml` (if it exists).
pub fn load(explicit: Option<&Path>) -> Result<Project, Failure> {
    let (path, required) = match explicit {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(Project::default());
        }
        Err(err) => {
            return Err(Failure::usage(format!(
                "cannot read the project file {}: {err}",
                path.display()
            )));
        }
    };
    parse(&text).map_err(|why| Failure::usage(format!("{}: {why}", path.display())))
}

/// The project file's text, checked (pure).
pub fn parse(text: &str) -> Result<Project, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let mut project = Project::default();
    for (key, value) in &table {
        if NAMES.contains(&key.as_str()) {
            let text = value
                .as_str()
                .ok_or_else(|| format!("`{key}` must be a string, as in `{key} = \"...\"`"))?
                .to_owned();
            let slot = match key.as_str() {
                "service" => &mut project.service,
                "stage" => &mut project.stage,
                "region" => &mut project.region,
                _ => &mut project.profile,
            };
            *slot = Some(text);
            continue;
        }
        let Some(setting) = settings::find(key) else {
            return Err(format!(
                "unknown key `{key}`; the keys are {}",
                NAMES
                    .iter()
                    .copied()
                    .chain(settings::SETTINGS.iter().map(|s| s.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        match setting.allowed {
            Allowed::Range { .. } | Allowed::OneOf(_) => {
                let number = value.as_integer().ok_or_else(|| {
                    format!(
                        "`{key}` must be a whole number, as in `{key} = {}`",
                        setting.default.template()
                    )
                })?;
                let checked = setting.check(number)?;
                project.settings.set(setting, checked);
            }
            Allowed::Choice(_) | Allowed::Text(_) => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("`{key}` must be a string, as in `{key} = \"...\"`"))?;
                let checked = setting.parse_text(text)?;
                project.settings.set_value(setting, Value::Text(checked));
            }
            Allowed::List(_) => {
                let wrong =
                    || format!("`{key}` must be a list of strings, as in `{key} = [\"...\"]`");
                let entries = value
                    .as_array()
                    .ok_or_else(wrong)?
                    .iter()
                    .map(|v| v.as_str().ok_or_else(wrong))
                    .collect::<Result<Vec<&str>, String>>()?;
                let checked = setting.parse_list(entries)?;
                project.settings.set_value(setting, Value::List(checked));
            }
        }
    }
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_settings_are_read() {
        let project = parse(
            "service = \"chat\"\nstage = \"prod\"\nregion = \"eu-west-1\"\nprofile = \"work\"\n\
             memory = 1024\nlog-retention = 30\n",
        )
        .unwrap();
        assert_eq!(project.service.as_deref(), Some("chat"));
        assert_eq!(project.stage.as_deref(), Some("prod"));
        assert_eq!(project.region.as_deref(), Some("eu-west-1"));
        assert_eq!(project.profile.as_deref(), Some("work"));
        assert_eq!(project.settings.get("memory"), Some(1024));
        assert_eq!(project.settings.get("log-retention"), Some(30));
        assert_eq!(project.settings.get("timeout"), None);
        assert_eq!(parse("").unwrap(), Project::default());
    }

    #[test]
    fn text_settings_and_lists_are_read() {
        let project = parse(
            "auth = \"jwt\"\nissuer = \"https://idp\"\n\
             allow-origin = [\"https://a.example\", \"https://b.example/\"]\n",
        )
        .unwrap();
        assert_eq!(
            project.settings.value("auth"),
            Some(&Value::Text("jwt".into()))
        );
        assert_eq!(
            project.settings.value("allow-origin"),
            Some(&Value::List(vec![
                "https://a.example".into(),
                "https://b.example".into()
            ]))
        );
        assert_eq!(
            parse("auth = \"maybe\"").unwrap_err(),
            "auth `maybe` is not one of them: auth is one of none, jwt"
        );
        assert_eq!(
            parse("allow-origin = \"https://a.example\"").unwrap_err(),
            "`allow-origin` must be a list of strings, as in `allow-origin = [\"...\"]`"
        );
        assert!(
            parse("allow-origin = [\"a.example\"]")
                .unwrap_err()
                .contains("https://")
        );
        assert_eq!(
            parse("auth = 1").unwrap_err(),
            "`auth` must be a string, as in `auth = \"...\"`"
        );
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let unknown = parse("memroy = 512").unwrap_err();
        assert!(unknown.starts_with("unknown key `memroy`; the keys are service, stage"));
        assert!(unknown.contains("memory"), "{unknown}");
        assert_eq!(
            parse("memory = \"512\"").unwrap_err(),
            "`memory` must be a whole number, as in `memory = 1769`"
        );
        assert_eq!(
            parse("memory = 64").unwrap_err(),
            "memory 64 is not allowed: memory is from 128 to 10240 (MB)"
        );
        assert_eq!(
            parse("service = 3").unwrap_err(),
            "`service` must be a string, as in `service = \"...\"`"
        );
        assert!(
            parse("service = ")
                .unwrap_err()
                .starts_with("not valid TOML")
        );
    }
}
