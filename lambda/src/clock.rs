//! The one clock: unix time in milliseconds and seconds, and the `Instant` of a deadline
//! Lambda gives in unix milliseconds. Everything else that needs "now" asks here.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds (0 on a clock before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix time in whole seconds.
pub fn now_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// `ms` if an event set it (a positive time), else now.
pub fn or_now(ms: i64) -> i64 {
    if ms > 0 { ms } else { now_ms() }
}

/// The `Instant` of a deadline given in unix milliseconds (Lambda's context): now when it
/// has passed.
pub fn deadline_from_epoch_ms(deadline_ms: i64) -> Instant {
    let left = deadline_ms.saturating_sub(now_ms()).max(0);
    Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_agree_and_a_past_deadline_is_now() {
        let ms = now_ms();
        assert!(ms > 1_700_000_000_000, "{ms}");
        assert!(now_seconds().abs_diff(u64::try_from(ms / 1000).unwrap()) <= 1);
        assert_eq!(or_now(5), 5);
        assert!(or_now(0) >= ms);
        let before = Instant::now();
        assert!(deadline_from_epoch_ms(0) <= Instant::now());
        assert!(deadline_from_epoch_ms(ms + 60_000) >= before + Duration::from_secs(59));
    }
}
