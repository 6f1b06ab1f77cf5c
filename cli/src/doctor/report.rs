//! `mb doctor`'s report: text that fits 100 columns (colour only when asked for), or one
//! JSON object with every check (pure).

use serde_json::{Value, json};

use super::{Check, Outcome, Status, outcome};

/// The text is wrapped to this many columns.
pub const WIDTH: usize = 100;
/// `unknown` and `permissions` are the longest status and id.
const STATUS_WIDTH: usize = 7;
const ID_WIDTH: usize = 11;
/// Policy statements are indented by this much.
const BLOCK_INDENT: &str = "    ";

/// The report as text; `colour` paints the status words (green, red, yellow).
pub fn text(heading: &str, checks: &[Check], colour: bool) -> String {
    let indent = " ".repeat(STATUS_WIDTH + 2 + ID_WIDTH + 2);
    let mut out = String::new();
    for line in textwrap::wrap(heading, WIDTH) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    for check in checks {
        let status = check.status.as_str();
        let first = format!("{status:<STATUS_WIDTH$}  {:<ID_WIDTH$}  ", check.id);
        let mut paragraphs = vec![(first.as_str(), check.summary.clone())];
        paragraphs.extend(check.details.iter().map(|d| (indent.as_str(), d.clone())));
        if let Some(fix) = &check.fix {
            paragraphs.push((indent.as_str(), format!("fix: {fix}")));
        }
        for (n, (initial, paragraph)) in paragraphs.iter().enumerate() {
            let options = textwrap::Options::new(WIDTH)
                .initial_indent(initial)
                .subsequent_indent(&indent);
            for (i, line) in textwrap::wrap(paragraph, options).iter().enumerate() {
                if n == 0 && i == 0 && colour {
                    out.push_str(&paint(check.status, status));
                    out.push_str(&line[status.len()..]);
                } else {
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        for block in &check.blocks {
            for line in block.lines() {
                out.push_str(BLOCK_INDENT);
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn paint(status: Status, word: &str) -> String {
    let style = match status {
        Status::Pass => console::Style::new().green(),
        Status::Fail => console::Style::new().red().bold(),
        Status::Unknown => console::Style::new().yellow(),
    };
    style.force_styling(true).apply_to(word).to_string()
}

/// The report as one JSON object: the context, the outcome and every check.
pub fn json(context: Value, checks: &[Check]) -> Value {
    let (ok, verdict) = match outcome(checks) {
        Outcome::Ready => (true, "ready"),
        Outcome::Unverified(_) => (true, "unverified"),
        Outcome::Failed(_) => (false, "failed"),
    };
    let checks: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut object = json!({
                "id": c.id,
                "status": c.status.as_str(),
                "summary": c.summary,
                "details": c.details,
                "fix": c.fix,
            });
            if let Value::Object(map) = &mut object {
                for (key, value) in &c.data {
                    map.insert(key.clone(), value.clone());
                }
            }
            object
        })
        .collect();
    json!({ "ok": ok, "outcome": verdict, "context": context, "checks": checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Vec<Check> {
        vec![
            Check::pass("credentials", "credentials found, region eu-west-1"),
            Check::fail(
                "permissions",
                "2 of 70 actions a deploy needs are denied for \
                 arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef",
                "add these statements to a policy of the caller (`mb doctor --policy` prints \
                 the whole least-privilege policy):",
            )
            .with_details(vec!["iam: iam:PassRole".into()]),
            Check::unknown("bucket", "cannot check", "see above"),
        ]
    }

    #[test]
    fn text_fits_100_columns_and_is_plain_without_colour() {
        let text = text(
            "mb doctor: service chat, stage dev, region eu-west-1",
            &checks(),
            false,
        );
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?} is too wide");
        }
        assert!(!text.contains('\u{1b}'));
        assert!(
            text.contains("\npass     credentials  credentials found"),
            "{text}"
        );
        assert!(text.contains("\nfail     permissions  2 of 70"), "{text}");
        assert!(
            text.contains("\n                      iam: iam:PassRole\n"),
            "{text}"
        );
        assert!(
            text.contains("\nunknown  bucket       cannot check"),
            "{text}"
        );
    }

    #[test]
    fn colour_paints_only_the_status_word() {
        let coloured = text("h", &checks(), true);
        assert!(coloured.contains("\u{1b}["));
        let stripped = console::strip_ansi_codes(&coloured);
        assert_eq!(stripped, text("h", &checks(), false));
    }

    #[test]
    fn json_has_every_check_and_the_outcome() {
        let value = json(json!({"service": "chat"}), &checks());
        assert_eq!(value["ok"], false);
        assert_eq!(value["outcome"], "failed");
        let ids: Vec<&str> = value["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["credentials", "permissions", "bucket"]);
        assert_eq!(value["checks"][2]["status"], "unknown");
    }
}
