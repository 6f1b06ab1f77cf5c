//! Which log events are new, in what order, and where the next poll starts (pure).
//!
//! FilterLogEvents documents its events as sorted by time, but an emulator (moto) pages one
//! log stream after another, and a poll that starts a little before the newest event seen
//! (to catch events that arrive late) gets some of them again. So each fetch is sorted
//! oldest first here and every event id is printed once; ids older than the next poll's
//! start are forgotten, so following for hours keeps memory bounded.

use std::collections::HashMap;

use super::Event;

/// How far before the newest event seen a poll starts again: an event that reaches
/// CloudWatch Logs up to this much later than a newer one is still printed.
pub const LATE_MS: i64 = 30_000;

/// The events printed so far.
#[derive(Debug, Default)]
pub struct Window {
    /// Each printed event's id and timestamp, since [`Window::start`].
    seen: HashMap<String, i64>,
    /// The newest timestamp printed.
    newest: Option<i64>,
}

impl Window {
    /// The events of one fetch that were not printed before, oldest first (equal times
    /// in the order CloudWatch Logs received them), each once.
    pub fn fresh(&mut self, fetched: Vec<Event>) -> Vec<Event> {
        let mut fresh: Vec<Event> = Vec::new();
        for event in fetched {
            if self.seen.contains_key(&event.id) {
                continue;
            }
            self.seen.insert(event.id.clone(), event.timestamp);
            fresh.push(event);
        }
        fresh.sort_by_key(|e| (e.timestamp, e.ingestion));
        if let Some(last) = fresh.last() {
            self.newest = Some(
                self.newest
                    .map_or(last.timestamp, |n| n.max(last.timestamp)),
            );
        }
        fresh
    }

    /// Where the next poll starts (milliseconds since 1970): [`LATE_MS`] before the newest
    /// event printed, never before `floor` (the `--since` start). Forgets the ids of
    /// events before it, which that poll cannot return again.
    pub fn start(&mut self, floor: i64) -> i64 {
        let start = self
            .newest
            .map_or(floor, |newest| floor.max(newest.saturating_sub(LATE_MS)));
        self.seen.retain(|_, timestamp| *timestamp >= start);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, timestamp: i64, stream: &str) -> Event {
        Event {
            id: id.to_owned(),
            timestamp,
            ingestion: timestamp + 5,
            stream: stream.to_owned(),
            message: format!("line {id}"),
        }
    }

    fn ids(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn one_stream_after_another_is_printed_oldest_first() {
        let mut window = Window::default();
        let fetched = vec![
            event("a1", 1_000, "a"),
            event("a2", 3_000, "a"),
            event("b1", 2_000, "b"),
            event("b2", 3_000, "b"),
        ];
        let fresh = window.fresh(fetched);
        assert_eq!(ids(&fresh), ["a1", "b1", "a2", "b2"]);
    }

    #[test]
    fn equal_times_in_two_streams_are_both_printed_once() {
        let mut window = Window::default();
        let first = window.fresh(vec![event("a", 5_000, "s1"), event("b", 5_000, "s2")]);
        assert_eq!(ids(&first), ["a", "b"]);
        let start = window.start(0);
        // The next poll returns both again, and one new event at the same time.
        let again = window.fresh(vec![
            event("a", 5_000, "s1"),
            event("c", 5_000, "s3"),
            event("b", 5_000, "s2"),
        ]);
        assert_eq!(start, 0);
        assert_eq!(ids(&again), ["c"]);
    }

    #[test]
    fn a_fetch_that_repeats_an_event_prints_it_once() {
        let mut window = Window::default();
        let fresh = window.fresh(vec![event("a", 1, "s"), event("a", 1, "s")]);
        assert_eq!(ids(&fresh), ["a"]);
    }

    #[test]
    fn the_next_poll_starts_a_little_before_the_newest_event_and_forgets_older_ids() {
        let mut window = Window::default();
        assert_eq!(window.start(10_000), 10_000, "nothing printed yet");
        window.fresh(vec![event("old", 20_000, "s"), event("new", 100_000, "s")]);
        assert_eq!(window.start(10_000), 100_000 - LATE_MS);
        // "old" is before the start: forgotten; "new" is still known.
        assert!(!window.seen.contains_key("old"));
        assert_eq!(
            ids(&window.fresh(vec![event("new", 100_000, "s")])),
            Vec::<&str>::new()
        );
        // Never before the --since start.
        assert_eq!(window.start(95_000), 95_000);
    }
}
