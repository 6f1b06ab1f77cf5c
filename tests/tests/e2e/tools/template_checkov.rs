//! checkov, a scanner independent of cfn-lint and of this project, on the template
//! `mb template` renders: every finding is fixed in the template or skipped, with its
//! reason, in `templates/.checkov.yaml` (checkov's own config file, so a user can run
//! `checkov -f FILE --config-file templates/.checkov.yaml` by hand; docs/security.md
//! repeats the reasons). A new finding fails the test, and so does a skip whose check no
//! longer fails.
//!
//! checkov runs offline: `skip-download` (in the config file, and `BC_SKIP_MAPPING`) keeps
//! it from the vendor's platform, `CKV_SKIP_PACKAGE_UPDATE_CHECK` from PyPI's version
//! check, and it gets no API key (its environment is cleared).
//!
//! checkov evaluates the template's conditions with the parameters' defaults and leaves
//! out the resources whose condition is false (the authorizer and its permission under
//! `Auth=none`, the secret with a JWKS URL). `mb template` renders the defaults, so the
//! scan also covers copies whose defaults are a deploy's values: `Auth=jwt` (HS256, the
//! generated secret) and `Auth=jwt` with a JWKS URL.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The skip file, relative to the workspace.
const CONFIG: &str = "templates/.checkov.yaml";

/// How long one checkov run may take (about 5 s here).
const LIMIT: Duration = Duration::from_secs(180);

/// `mb template --service broadcaster <args>`'s standard output (us-east-1).
fn rendered(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--service", "broadcaster"];
    all.extend_from_slice(args);
    mb_tests::mb::template(&all)
}

/// The rendered template with these parameters' defaults set to a deploy's values.
fn with_defaults(json: &[u8], values: &[(&str, &str)]) -> Vec<u8> {
    let mut template: Value = serde_json::from_slice(json).expect("mb template prints JSON");
    for (name, value) in values {
        let parameter = &mut template["Parameters"][*name];
        assert!(parameter.is_object(), "no parameter {name}");
        parameter["Default"] = Value::String((*value).to_owned());
    }
    serde_json::to_vec_pretty(&template).expect("JSON")
}

/// The files checkov scans, written into `dir`: the YAML and the JSON rendering, and the
/// JSON one with the access settings of a deploy with tokens.
fn scanned_files(dir: &Path) -> Vec<String> {
    let json = rendered(&["--format", "json"]);
    let files = [
        ("default.yaml", rendered(&["--format", "yaml"])),
        ("auth-jwt.json", with_defaults(&json, &[("Auth", "jwt")])),
        (
            "auth-jwks.json",
            with_defaults(
                &json,
                &[
                    ("Auth", "jwt"),
                    ("JwksUrl", "https://idp.example/.well-known/jwks.json"),
                    ("JwtIssuer", "https://idp.example/"),
                ],
            ),
        ),
        ("default.json", json),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            std::fs::write(dir.join(name), text).expect("write a template");
            name.to_owned()
        })
        .collect()
}

/// A fresh folder under the system's temporary one, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "mb-checkov-{what}-{}-{}",
            std::process::id(),
            mb_lambda::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// checkov's JSON report on `files` in `dir` with `args`, and its exit code; the test
/// fails if it does not finish within [`LIMIT`] or prints no report.
///
/// It runs in `dir` with `HOME` there too, so no `.checkov.yaml` of the machine's counts,
/// and with only `PATH` from the test's environment (no API key, no `CKV_*` setting).
fn checkov(checkov: &Path, dir: &Path, files: &[String], args: &[&str]) -> (Value, Option<i32>) {
    let mut command = Command::new(checkov);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .env("BC_SKIP_MAPPING", "TRUE")
        .current_dir(dir);
    for file in files {
        command.arg("--file").arg(file);
    }
    command.args(args).args(["--output", "json"]);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run checkov");
    let drain = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for checkov") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("checkov did not finish within {LIMIT:?} (offline, it should take seconds)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("checkov's stdout");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("checkov's stderr")).into_owned();
    let report: Value = serde_json::from_slice(&stdout).unwrap_or_else(|err| {
        panic!(
            "checkov {args:?} exited {:?} without a JSON report ({err}):\n{}\n{stderr}",
            status.code(),
            String::from_utf8_lossy(&stdout)
        )
    });
    (report, status.code())
}

fn checks<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["results"][kind]
        .as_array()
        .map(|all| all.iter().collect())
        .unwrap_or_default()
}

/// Fails unless checkov parsed and checked every file: a template it cannot read as
/// CloudFormation is otherwise left out without a word.
fn assert_scanned_all(report: &Value, files: &[String]) {
    assert_eq!(
        report["summary"]["parsing_errors"], 0,
        "checkov could not parse: {}",
        report["results"]["parsing_errors"]
    );
    let checked: BTreeSet<&str> = checks(report, "passed_checks")
        .into_iter()
        .chain(checks(report, "failed_checks"))
        .filter_map(|c| c["file_path"].as_str())
        .map(|path| path.trim_start_matches('/'))
        .collect();
    for file in files {
        assert!(
            checked.contains(file.as_str()),
            "checkov checked nothing in {file} (checked: {checked:?}); summary {}",
            report["summary"]
        );
    }
}

/// One line per finding: its check, title, resource and file.
fn findings(failed: &[&Value]) -> String {
    failed
        .iter()
        .map(|c| {
            format!(
                "  {} \"{}\": {} in {}\n",
                c["check_id"].as_str().unwrap_or("?"),
                c["check_name"].as_str().unwrap_or("?"),
                c["resource"].as_str().unwrap_or("?"),
                c["file_path"].as_str().unwrap_or("?"),
            )
        })
        .collect()
}

/// The check ids the skip file skips, each with its reason (the comment lines above it).
fn skips(config: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut reason: Vec<&str> = Vec::new();
    let mut in_list = false;
    for line in config.lines() {
        if line.starts_with("skip-check:") {
            in_list = true;
            continue;
        }
        let trimmed = line.trim();
        if !in_list || trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            reason.push(comment.trim());
        } else if let Some(id) = trimmed.strip_prefix("- ") {
            let id = id.split('#').next().unwrap_or_default().trim();
            found.push((id.to_owned(), reason.join(" ")));
            reason.clear();
        } else if !line.starts_with(' ') {
            break;
        }
    }
    found
}

fn tool() -> Option<PathBuf> {
    mb_tests::required_tool(
        mb_tests::workspace_root().join(".venv/checkov/bin/checkov"),
        "checkov",
    )
}

#[test]
fn checkov_reports_nothing_the_skip_file_does_not_explain() {
    let Some(checkov_bin) = tool() else {
        return;
    };
    let scratch = Scratch::new("skips");
    let files = scanned_files(&scratch.0);
    let config = mb_tests::workspace_root().join(CONFIG);
    let config = config.to_str().expect("a UTF-8 path");
    let (report, code) = checkov(&checkov_bin, &scratch.0, &files, &["--config-file", config]);
    assert_scanned_all(&report, &files);
    let failed = checks(&report, "failed_checks");
    assert!(
        failed.is_empty() && code == Some(0),
        "checkov (exit {code:?}) reports {} finding(s) that {CONFIG} does not skip:\n{}\
         Fix each in templates/broadcast.yaml, or skip its check in {CONFIG} with the \
         reason as a comment above it, and repeat the reason in docs/security.md \
         (\"What the scanner reports, and why we keep it\").",
        failed.len(),
        findings(&failed)
    );
}

#[test]
fn every_skip_has_a_reason_a_doc_entry_and_a_finding() {
    let config = std::fs::read_to_string(mb_tests::workspace_root().join(CONFIG))
        .expect("read the skip file");
    let skipped = skips(&config);
    assert!(!skipped.is_empty(), "no skip-check list in {CONFIG}");
    // Offline however it is run: the platform's downloads are off in the file itself.
    assert!(
        config.lines().any(|l| l.trim() == "skip-download: true"),
        "{CONFIG} must keep skip-download: true"
    );
    let security = std::fs::read_to_string(mb_tests::workspace_root().join("docs/security.md"))
        .expect("read docs/security.md");
    let section = security
        .split("\n## What the scanner reports, and why we keep it\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect(
            "docs/security.md has the section \"What the scanner reports, and why we keep it\"",
        );
    let documented: BTreeSet<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| {
            quoted.starts_with("CKV")
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    let listed: BTreeSet<&str> = skipped.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        documented, listed,
        "the checks docs/security.md explains and those {CONFIG} skips"
    );
    for (id, reason) in &skipped {
        assert!(
            reason.split_whitespace().count() >= 10,
            "{id} in {CONFIG} has no reason (the comment above it): {reason:?}"
        );
    }

    let Some(checkov_bin) = tool() else {
        return;
    };
    let scratch = Scratch::new("all");
    let files = scanned_files(&scratch.0);
    let (report, code) = checkov(
        &checkov_bin,
        &scratch.0,
        &files,
        &["--framework", "cloudformation", "--skip-download"],
    );
    assert_scanned_all(&report, &files);
    assert!(matches!(code, Some(0 | 1)), "checkov exited {code:?}");
    let failing: BTreeSet<&str> = checks(&report, "failed_checks")
        .into_iter()
        .filter_map(|c| c["check_id"].as_str())
        .collect();
    let stale: Vec<&str> = skipped
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !failing.contains(id))
        .collect();
    assert!(
        stale.is_empty(),
        "{CONFIG} skips {stale:?}, which no longer fail (checkov fails only {failing:?}): \
         remove them there and from docs/security.md"
    );
}
