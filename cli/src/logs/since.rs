//! `mb logs --since`: how far back to start, written as a number and a unit (`30s`, `10m`,
//! `2h`, `1d`), parsed before any AWS call so that a typo is a usage error (exit 2).

use std::time::Duration;

/// What `--since` accepts, for its help and its error.
pub const FORMS: &str = "a whole number followed by s, m, h or d, like 30s, 10m, 2h or 1d";

/// The longest look-back: CloudWatch Logs keeps events at most 10 years (3653 days).
const MAX_DAYS: u64 = 3653;

/// Parses `30s`, `10m`, `2h` or `1d` (pure). Zero, a missing unit, another unit or more
/// than 3653 days is refused with a sentence naming the accepted forms.
pub fn parse(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let refuse = || format!("`{value}` is not a duration: use {FORMS}");
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(refuse)?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| refuse())?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(refuse()),
    };
    if number == 0 {
        return Err(format!("`{value}` is no time at all: use {FORMS}"));
    }
    let seconds = number
        .checked_mul(seconds_per_unit)
        .filter(|s| *s <= MAX_DAYS * 24 * 60 * 60)
        .ok_or_else(|| {
            format!("`{value}` is longer than CloudWatch Logs keeps events ({MAX_DAYS}d at most)")
        })?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_is_understood() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse(" 5m "), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn anything_else_names_the_accepted_forms() {
        for bad in [
            "", "10", "m", "10 m", "10min", "1.5h", "-1m", "10M", "1w", "1d2h",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("30s, 10m, 2h or 1d"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn zero_and_too_long_are_refused() {
        assert!(parse("0m").unwrap_err().contains("no time at all"));
        assert_eq!(parse("3653d"), Ok(Duration::from_secs(3653 * 86_400)));
        assert!(parse("3654d").unwrap_err().contains("3653d at most"));
        assert!(parse("99999999999999999999d").is_err());
    }
}
