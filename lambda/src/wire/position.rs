//! A message's place in its room's stream (docs/protocol.md, "History and resume"): the
//! stream's epoch and the message's number in it, as every copy in a room that keeps
//! history carries them (`_seq`, `_epoch`), and what a `resume` asks for. Pure.

use serde::{Deserialize, Serialize};

/// The longest epoch a resume may name.
pub const MAX_EPOCH_CHARS: usize = 32;
/// The largest `seq` a resume may name: JavaScript's integers are exact up to 2^53.
pub const MAX_SEQ: u64 = 1 << 53;

/// A message's position: its number in the stream named by the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: String,
    pub seq: u64,
}

/// Where a `resume` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// No position: only where the stream is now.
    Head,
    /// After `seq` in `epoch`; `None` with `seq` 0: before a stream's first message,
    /// whatever its epoch.
    After { epoch: Option<String>, seq: u64 },
}

/// A new stream's epoch (pure): when it started, base 36 milliseconds, and a random
/// part, so two streams started in the same millisecond (two `mb dev` runs) differ.
pub fn new_epoch(now_ms: i64, random: u32) -> String {
    format!("{}-{:08x}", base36(now_ms.unsigned_abs()), random)
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Whether a resume may name `epoch`: 1 to [`MAX_EPOCH_CHARS`] characters.
pub fn epoch_allowed(epoch: &str) -> bool {
    !epoch.is_empty() && epoch.chars().count() <= MAX_EPOCH_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_short_and_differs_by_its_random_part() {
        let a = new_epoch(1_700_000_000_000, 1);
        let b = new_epoch(1_700_000_000_000, 2);
        assert_ne!(a, b);
        assert!(epoch_allowed(&a) && a.len() <= MAX_EPOCH_CHARS, "{a}");
        assert_eq!(new_epoch(0, 0), "0-00000000");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    proptest::proptest! {
        #[test]
        fn every_epoch_may_be_named_back(now in proptest::num::i64::ANY, random: u32) {
            let epoch = new_epoch(now, random);
            proptest::prop_assert!(epoch_allowed(&epoch));
        }
    }
}
