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

/// Properties of `--since`, over generated input. `PROPTEST_CASES` sets how many cases
/// each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const UNITS: [(&str, u64); 4] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)];
    const MAX_SECONDS: u64 = MAX_DAYS * 86_400;

    proptest! {
        /// Any text is parsed or refused, never a panic: accepted exactly when it is
        /// (around white space) digits then one of s, m, h, d, for 1 s to 3653 days; each
        /// refusal is a sentence naming what `--since` takes.
        #[test]
        fn since_is_digits_and_a_unit_within_ten_years(
            value in prop_oneof![
                3 => "[ \t]{0,2}[0-9]{0,22}[smhdSMw ]{0,2}[0-9]{0,2}[ \n]{0,2}",
                1 => any::<String>(),
            ],
        ) {
            let parsed = parse(&value);
            let trimmed = value.trim();
            let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
            let (digits, unit) = trimmed.split_at(split);
            let unit = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, seconds)| *seconds);
            match (digits.parse::<u128>(), unit) {
                (Ok(n), Some(seconds)) if !digits.is_empty() => {
                    let total = n * u128::from(seconds);
                    if n == 0 {
                        prop_assert!(parsed.unwrap_err().contains("no time at all"));
                    } else if total > u128::from(MAX_SECONDS) {
                        let err = parsed.unwrap_err();
                        prop_assert!(err.contains("3653d at most") || err.contains(FORMS), "{}", err);
                        if n <= u128::from(u64::MAX) {
                            prop_assert!(err.contains("3653d at most"), "{}", err);
                        }
                    } else {
                        prop_assert_eq!(parsed, Ok(Duration::from_secs(total as u64)));
                    }
                }
                _ => prop_assert!(parsed.unwrap_err().contains(FORMS), "{:?}", value),
            }
        }

        /// A duration written in any unit that divides it reads back as itself.
        #[test]
        fn a_written_duration_reads_back(seconds in 1..=MAX_SECONDS, unit in 0usize..4) {
            let (name, size) = UNITS[unit];
            let whole = (seconds / size).max(1);
            prop_assert_eq!(parse(&format!("{whole}{name}")), Ok(Duration::from_secs(whole * size)));
            prop_assert_eq!(parse(&format!("{seconds}s")), Ok(Duration::from_secs(seconds)));
        }
    }
}
