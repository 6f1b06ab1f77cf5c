//! One log event as `mb logs` prints it (pure).
//!
//! The function writes one JSON line per invocation through tracing's JSON formatter
//! (lambda/src/bin/bootstrap.rs, lambda/src/handler/reply.rs):
//! `{"level":"INFO","fields":{"message":"invocation","route":"$default","status":200,
//! "recipients":3,"delivered":3,"gone":0,"failed":0,"duration_ms":12.3}}`, and other JSON
//! lines for warnings and errors. Lambda adds its own platform lines: `START`, `END`,
//! `REPORT` and `INIT_START` in the Text log format (the template's), or
//! `{"type":"platform.report","record":{..}}` records in the JSON log format. Each kind
//! gets a short line after the event's time (UTC); anything else is printed as it is.
//! `--json` prints the message alone, exactly as stored.

use serde_json::{Map, Value};

use super::Event;

/// Width of the column after the time: the route, level or platform record kind.
const TAG: usize = 11;

/// The line `mb logs` prints for `event`.
pub fn line(event: &Event) -> String {
    let time = time(event.timestamp);
    let message = event.message.trim_end();
    let text = serde_json::from_str::<Map<String, Value>>(message)
        .ok()
        .and_then(|object| from_json(&object))
        .or_else(|| platform_text(message))
        .unwrap_or_else(|| message.to_owned());
    format!("{time}  {text}").trim_end().to_owned()
}

/// The line `mb logs --json` prints for `event`: its message as stored, less the line
/// break the function ended it with.
pub fn raw(event: &Event) -> &str {
    event.message.trim_end_matches(['\n', '\r'])
}

/// `2026-11-18 11:06:40.123Z` for milliseconds since 1970.
pub fn time(millis: i64) -> String {
    let seconds = aws_smithy_types::DateTime::from_secs(millis.div_euclid(1000));
    match seconds.fmt(aws_smithy_types::date_time::Format::DateTime) {
        Ok(text) if text.len() >= 19 => format!(
            "{} {}.{:03}Z",
            &text[..10],
            &text[11..19],
            millis.rem_euclid(1000)
        ),
        _ => format!("{millis} ms after 1970"),
    }
}

/// A tracing JSON line of the function, or a Lambda platform record.
fn from_json(object: &Map<String, Value>) -> Option<String> {
    if let Some(fields) = object.get("fields").and_then(Value::as_object) {
        let level = object.get("level").and_then(Value::as_str).unwrap_or("-");
        return Some(tracing_line(level, fields));
    }
    let kind = object.get("type").and_then(Value::as_str)?;
    let kind = kind.strip_prefix("platform.")?;
    let record = object.get("record").and_then(Value::as_object);
    let field = |name: &str| record.and_then(|r| r.get(name));
    let request = field("requestId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = field("status").and_then(Value::as_str);
    Some(match kind {
        "start" => tag("START", request),
        "runtimeDone" => tag("END", &join([request, status.unwrap_or_default()])),
        "report" => {
            let metric = |name: &str, decimals: usize| {
                field("metrics")
                    .and_then(|m| m.get(name))
                    .map(|v| number(v, decimals))
            };
            report(&Report {
                request,
                duration: metric("durationMs", 2),
                billed: metric("billedDurationMs", 0),
                memory: metric("memorySizeMB", 0),
                used: metric("maxMemoryUsedMB", 0),
                init: metric("initDurationMs", 2),
                status: status.filter(|s| *s != "success"),
            })
        }
        "initStart" => tag(
            "INIT",
            field("runtimeVersion")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        other => tag(other, &join([request, status.unwrap_or_default()])),
    })
}

/// The function's own line: an invocation's counts, or a level, message and fields.
fn tracing_line(level: &str, fields: &Map<String, Value>) -> String {
    let message = fields.get("message").and_then(Value::as_str).unwrap_or("");
    let route = fields.get("route").and_then(Value::as_str);
    if let (Some(route), "invocation") = (route, message) {
        let count = |name: &str| fields.get(name).map(|v| number(v, 0)).unwrap_or_default();
        let mut parts = vec![count("status")];
        if route == "$default" {
            for name in ["recipients", "delivered", "gone", "failed"] {
                parts.push(format!("{name} {}", count(name)));
            }
        }
        if let Some(ms) = fields.get("duration_ms") {
            parts.push(format!("{} ms", number(ms, 1)));
        }
        return tag(route, &parts.join("  "));
    }
    let mut text = message.to_owned();
    for (name, value) in fields.iter().filter(|(name, _)| *name != "message") {
        text.push_str(&format!("  {name}={}", value_text(value)));
    }
    tag(level, &text)
}

/// What a REPORT line says.
struct Report<'a> {
    request: &'a str,
    duration: Option<String>,
    billed: Option<String>,
    memory: Option<String>,
    used: Option<String>,
    init: Option<String>,
    /// Anything but success (`timeout`, `error`).
    status: Option<&'a str>,
}

fn report(report: &Report<'_>) -> String {
    let mut parts = vec![report.request.to_owned()];
    if let Some(duration) = &report.duration {
        let billed = report
            .billed
            .as_ref()
            .map(|b| format!(" (billed {b} ms)"))
            .unwrap_or_default();
        parts.push(format!("{duration} ms{billed}"));
    }
    if let (Some(used), Some(memory)) = (&report.used, &report.memory) {
        parts.push(format!("memory {used}/{memory} MB"));
    }
    if let Some(init) = &report.init {
        parts.push(format!("init {init} ms"));
    }
    if let Some(status) = report.status {
        parts.push(status.to_owned());
    }
    tag("REPORT", &parts.join("  "))
}

/// Lambda's platform lines in the Text log format.
fn platform_text(message: &str) -> Option<String> {
    let (kind, rest) = message.split_once(' ')?;
    let field = |name: &str| {
        rest.split('\t')
            .filter_map(|part| part.trim().split_once(": "))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim())
    };
    // `START RequestId: <id> Version: $LATEST` has no tab before Version.
    let request = field("RequestId")
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_default();
    let unit = |name: &str, suffix: &str| {
        field(name).map(|v| v.trim_end_matches(suffix).trim_end().to_owned())
    };
    match kind {
        "START" => Some(tag("START", request)),
        "END" => Some(tag("END", request)),
        "REPORT" => Some(report(&Report {
            request,
            duration: unit("Duration", "ms"),
            billed: unit("Billed Duration", "ms"),
            memory: unit("Memory Size", "MB"),
            used: unit("Max Memory Used", "MB"),
            init: unit("Init Duration", "ms"),
            status: field("Status"),
        })),
        "INIT_START" => Some(tag("INIT", field("Runtime Version").unwrap_or_default())),
        _ => None,
    }
}

fn tag(tag: &str, text: &str) -> String {
    format!("{tag:<TAG$} {text}").trim_end().to_owned()
}

fn join<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("  ")
}

/// A JSON number with at most `decimals` decimals (integers as they are); anything
/// else as [`value_text`].
fn number(value: &Value, decimals: usize) -> String {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| format!("{f:.decimals$}"))
            .unwrap_or_else(|| n.to_string()),
        other => value_text(other),
    }
}

/// A field's value: a plain word as it is, a string with spaces or quotes quoted.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '\t', '\n']) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-18 11:06:40.123 UTC.
    const AT: i64 = 1_795_000_000_123;

    fn event(message: &str) -> Event {
        Event {
            id: "1".into(),
            timestamp: AT,
            ingestion: AT,
            stream: "2026/11/18/[$LATEST]abc".into(),
            message: message.into(),
        }
    }

    fn shown(message: &str) -> String {
        line(&event(message))
    }

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(time(AT), "2026-11-18 11:06:40.123Z");
        assert_eq!(time(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(time(-1), "1969-12-31 23:59:59.999Z");
    }

    #[test]
    fn an_invocation_shows_its_route_counts_and_duration() {
        let json = r#"{"level":"INFO","fields":{"message":"invocation","route":"$default","status":200,"recipients":3,"delivered":2,"gone":1,"failed":0,"duration_ms":12.345}}"#;
        assert_eq!(
            shown(&format!("{json}\n")),
            "2026-11-18 11:06:40.123Z  $default    200  recipients 3  delivered 2  gone 1  \
             failed 0  12.3 ms"
        );
    }

    #[test]
    fn a_connect_shows_no_fan_out_counts() {
        let json = r#"{"level":"INFO","fields":{"message":"invocation","route":"$connect","status":200,"recipients":0,"delivered":0,"gone":0,"failed":0,"duration_ms":4.0}}"#;
        assert_eq!(
            shown(json),
            "2026-11-18 11:06:40.123Z  $connect    200  4.0 ms"
        );
    }

    #[test]
    fn other_function_lines_show_level_message_and_fields() {
        let json = r#"{"level":"WARN","fields":{"message":"delivery failed; connection kept","connection_id":"abc=","failure":"HTTP 500 from the gateway"}}"#;
        assert_eq!(
            shown(json),
            "2026-11-18 11:06:40.123Z  WARN        delivery failed; connection kept  \
             connection_id=abc=  failure=\"HTTP 500 from the gateway\""
        );
        let json = r#"{"level":"ERROR","fields":{"message":"bad configuration","err":"MB_TABLE_NAME is not set"}}"#;
        assert_eq!(
            shown(json),
            "2026-11-18 11:06:40.123Z  ERROR       bad configuration  err=\"MB_TABLE_NAME is not set\""
        );
    }

    #[test]
    fn lambda_text_platform_lines_are_short() {
        let id = "8f5e2c1a-0b7d-4c53-9f1e-2a4b6c8d0e1f";
        assert_eq!(
            shown(&format!("START RequestId: {id} Version: $LATEST\n")),
            format!("2026-11-18 11:06:40.123Z  START       {id}")
        );
        assert_eq!(
            shown(&format!("END RequestId: {id}\n")),
            format!("2026-11-18 11:06:40.123Z  END         {id}")
        );
        assert_eq!(
            shown(&format!(
                "REPORT RequestId: {id}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t\
                 Memory Size: 128 MB\tMax Memory Used: 21 MB\tInit Duration: 55.02 ms\t\n"
            )),
            format!(
                "2026-11-18 11:06:40.123Z  REPORT      {id}  12.34 ms (billed 13 ms)  \
                 memory 21/128 MB  init 55.02 ms"
            )
        );
        assert_eq!(
            shown(&format!(
                "REPORT RequestId: {id}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t\
                 Memory Size: 128 MB\tMax Memory Used: 21 MB\tStatus: timeout\n"
            )),
            format!(
                "2026-11-18 11:06:40.123Z  REPORT      {id}  3000.00 ms (billed 3000 ms)  \
                 memory 21/128 MB  timeout"
            )
        );
        assert_eq!(
            shown(
                "INIT_START Runtime Version: provided:al2023.v101\tRuntime Version ARN: \
                 arn:aws:lambda:eu-west-1::runtime:abc\n"
            ),
            "2026-11-18 11:06:40.123Z  INIT        provided:al2023.v101"
        );
    }

    #[test]
    fn lambda_json_platform_records_are_short() {
        let id = "8f5e2c1a";
        let start = format!(
            r#"{{"time":"2026-11-18T11:06:40.123Z","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#
        );
        assert_eq!(
            shown(&start),
            "2026-11-18 11:06:40.123Z  START       8f5e2c1a"
        );
        let report = format!(
            r#"{{"time":"2026-11-18T11:06:40.123Z","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":12.34,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":21}},"status":"success"}}}}"#
        );
        assert_eq!(
            shown(&report),
            "2026-11-18 11:06:40.123Z  REPORT      8f5e2c1a  12.34 ms (billed 13 ms)  memory 21/128 MB"
        );
        let done = format!(
            r#"{{"type":"platform.runtimeDone","record":{{"requestId":"{id}","status":"timeout"}}}}"#
        );
        assert_eq!(
            shown(&done),
            "2026-11-18 11:06:40.123Z  END         8f5e2c1a  timeout"
        );
    }

    #[test]
    fn anything_else_is_printed_as_it_is() {
        for message in [
            "thread 'main' panicked at src/main.rs:1:1",
            r#"{"some":"other json"}"#,
            "[1, 2]",
            "STARTING something",
        ] {
            assert_eq!(
                shown(&format!("{message}\n")),
                format!("2026-11-18 11:06:40.123Z  {message}")
            );
        }
        assert_eq!(shown("\n"), "2026-11-18 11:06:40.123Z");
    }

    #[test]
    fn json_output_is_the_message_as_stored() {
        let json = r#"{"level":"INFO","fields":{"message":"invocation"}}"#;
        assert_eq!(raw(&event(&format!("{json}\n"))), json);
        assert_eq!(raw(&event("  indented\ttext  ")), "  indented\ttext  ");
    }
}
