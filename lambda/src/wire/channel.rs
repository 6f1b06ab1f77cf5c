//! Channel names and the channels a connection asks for at connect (pure).
//!
//! A channel is a room: a message from a member reaches the channel's members. A
//! connection that names no channel is in the default room, which behaves exactly as the
//! one room before channels. Names are 1 to [`MAX_NAME`] characters from
//! [`ALLOWED`]: safe in a URL query, a log line and a DynamoDB key, and never equal to
//! the default room's key.

use std::collections::BTreeSet;

/// The longest channel name.
pub const MAX_NAME: usize = 64;
/// The most channels one connection may be in.
pub const MAX_PER_CONNECTION: usize = 20;
/// The characters a channel name may use, in words.
pub const ALLOWED: &str = "letters A-Z and a-z, digits, and - _ . : @";

/// Why a channel name or a connect URL's channels are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("the channel name is empty: name a channel of 1 to {MAX_NAME} characters")]
    Empty,
    #[error("channel name {0:?} is longer than {MAX_NAME} characters")]
    TooLong(String),
    #[error("channel name {name:?} has {bad:?}: a channel name may use only {ALLOWED}")]
    BadCharacter { name: String, bad: char },
    #[error("{0} channels asked for: a connection may be in at most {MAX_PER_CONNECTION}")]
    TooMany(usize),
}

/// A checked channel name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Channel(String);

impl Channel {
    /// `name`, if it is a valid channel name.
    pub fn parse(name: &str) -> Result<Channel, ChannelError> {
        if name.is_empty() {
            return Err(ChannelError::Empty);
        }
        if name.chars().count() > MAX_NAME {
            return Err(ChannelError::TooLong(name.to_owned()));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.:@".contains(*c)))
        {
            return Err(ChannelError::BadCharacter {
                name: name.to_owned(),
                bad,
            });
        }
        Ok(Channel(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The channels a connect URL's query asks for: every `channel=NAME` and every name of
/// every `channels=a,b`, each once, in name order. None: the default room.
pub fn from_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<BTreeSet<Channel>, ChannelError> {
    let mut channels = BTreeSet::new();
    for (key, value) in pairs {
        match key {
            "channel" => {
                channels.insert(Channel::parse(value)?);
            }
            "channels" => {
                for name in value.split(',') {
                    channels.insert(Channel::parse(name)?);
                }
            }
            _ => {}
        }
    }
    if channels.len() > MAX_PER_CONNECTION {
        return Err(ChannelError::TooMany(channels.len()));
    }
    Ok(channels)
}

/// Who gets a channel message, and through which channel (pure): the members of each
/// of the sender's rooms, given in name order, each recipient once, through the first
/// room it shares with the sender. Returns (row, index of its room in `rooms`).
pub fn recipients<R: Clone + AsRef<str>>(rooms: &[Vec<R>]) -> Vec<(R, usize)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (room, members) in rooms.iter().enumerate() {
        for member in members {
            if seen.insert(member.as_ref().to_owned()) {
                out.push((member.clone(), room));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_in_two_rooms_gets_one_copy_through_the_first() {
        let rooms = vec![vec!["a1", "both"], vec!["both", "b1"], vec![]];
        assert_eq!(recipients(&rooms), [("a1", 0), ("both", 0), ("b1", 1)]);
        assert!(recipients::<&str>(&[]).is_empty());
    }

    fn names(set: &BTreeSet<Channel>) -> Vec<&str> {
        set.iter().map(Channel::as_str).collect()
    }

    #[test]
    fn valid_and_invalid_names() {
        for good in [
            "a",
            "lobby-1",
            "doc_42",
            "order.9f3",
            "team:red",
            "user@example.com",
        ] {
            assert!(Channel::parse(good).is_ok(), "{good}");
        }
        assert!(Channel::parse(&"x".repeat(MAX_NAME)).is_ok());
        assert_eq!(
            Channel::parse(&"x".repeat(MAX_NAME + 1)),
            Err(ChannelError::TooLong("x".repeat(MAX_NAME + 1)))
        );
        assert_eq!(Channel::parse(""), Err(ChannelError::Empty));
        for (bad, c) in [
            ("a b", ' '),
            ("a/b", '/'),
            ("#default", '#'),
            ("é", 'é'),
            ("a,b", ','),
        ] {
            assert_eq!(
                Channel::parse(bad),
                Err(ChannelError::BadCharacter {
                    name: bad.into(),
                    bad: c
                })
            );
        }
        let message = Channel::parse("a b").unwrap_err().to_string();
        assert!(message.contains(ALLOWED), "{message}");
    }

    #[test]
    fn channels_from_the_connect_query() {
        let set = from_query([
            ("channel", "b"),
            ("channels", "a,c"),
            ("channel", "a"),
            ("token", "x"),
        ])
        .unwrap();
        assert_eq!(names(&set), ["a", "b", "c"]);
        assert!(from_query([("other", "x")]).unwrap().is_empty());
        assert_eq!(from_query([("channels", "a,,b")]), Err(ChannelError::Empty));
        let many: Vec<String> = (0..=MAX_PER_CONNECTION).map(|i| format!("c{i}")).collect();
        let joined = many.join(",");
        assert_eq!(
            from_query([("channels", joined.as_str())]),
            Err(ChannelError::TooMany(MAX_PER_CONNECTION + 1))
        );
    }
}

/// Properties of channel names and of the connect query, over generated input.
/// `PROPTEST_CASES` sets how many cases each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The rule of docs/protocol.md ("Names"), written independently of [`Channel::parse`].
    fn allowed(c: char) -> bool {
        c.is_ascii_lowercase()
            || c.is_ascii_uppercase()
            || c.is_ascii_digit()
            || "-_.:@".contains(c)
    }

    /// Names: mostly valid, some with a bad character, too long or empty, any text.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[A-Za-z0-9._:@-]{1,64}",
            2 => "[A-Za-z0-9._:@ ,/#%+é\u{0}-]{0,70}",
            1 => any::<String>(),
        ]
    }

    proptest! {
        /// A name parses exactly when it has 1 to 64 allowed characters, and then
        /// re-serialises to itself; else the error says which rule it breaks.
        #[test]
        fn a_name_parses_exactly_when_it_keeps_the_rule(name in name()) {
            let parsed = Channel::parse(&name);
            let length = name.chars().count();
            let expected = if name.is_empty() {
                Err(ChannelError::Empty)
            } else if length > MAX_NAME {
                Err(ChannelError::TooLong(name.clone()))
            } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
                Err(ChannelError::BadCharacter { name: name.clone(), bad })
            } else {
                Ok(())
            };
            match parsed {
                Ok(channel) => {
                    prop_assert_eq!(expected, Ok(()));
                    prop_assert_eq!(channel.as_str(), &name);
                    prop_assert_eq!(channel.to_string(), name.clone());
                    prop_assert_eq!(Channel::parse(channel.as_str()), Ok(channel.clone()));
                }
                Err(error) => {
                    prop_assert_eq!(Err(error.clone()), expected);
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }

        /// Whatever the query pairs, `from_query` answers: every `channel` and every
        /// comma-separated name of `channels`, each once, in name order; the first bad
        /// name refuses it, and so do more than 20 channels.
        #[test]
        fn the_connect_query_is_every_named_channel_at_most_twenty(
            pairs in prop::collection::vec(
                (
                    prop_oneof![
                        3 => prop::sample::select(vec!["channel", "channels"]).prop_map(str::to_owned),
                        1 => prop::sample::select(vec!["token", "Channel", "channel ", ""]).prop_map(str::to_owned),
                        1 => any::<String>(),
                    ],
                    prop_oneof![
                        4 => prop::collection::vec("[a-z0-9]{1,3}", 1..8).prop_map(|n| n.join(",")),
                        1 => name(),
                    ],
                ),
                0..10,
            ),
        ) {
            let got = from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let mut names: Vec<&str> = Vec::new();
            for (key, value) in &pairs {
                match key.as_str() {
                    "channel" => names.push(value),
                    "channels" => names.extend(value.split(',')),
                    _ => {}
                }
            }
            let expected = match names.iter().find_map(|n| Channel::parse(n).err()) {
                Some(first_bad) => Err(first_bad),
                None => {
                    let set: BTreeSet<Channel> =
                        names.iter().map(|n| Channel::parse(n).unwrap()).collect();
                    if set.len() > MAX_PER_CONNECTION {
                        Err(ChannelError::TooMany(set.len()))
                    } else {
                        Ok(set)
                    }
                }
            };
            if let Ok(set) = &got {
                prop_assert!(set.len() <= MAX_PER_CONNECTION);
                let sorted: Vec<&str> = set.iter().map(Channel::as_str).collect();
                prop_assert!(sorted.windows(2).all(|w| w[0] < w[1]), "{:?}", sorted);
            }
            prop_assert_eq!(got, expected);
        }

        /// Each member of the rooms gets one copy, through the first room that has it, in
        /// the rooms' order.
        #[test]
        fn each_recipient_once_through_its_first_room(
            rooms in prop::collection::vec(prop::collection::vec("[a-e]", 0..5), 0..5),
        ) {
            let got = recipients(&rooms);
            let mut expected: Vec<(String, usize)> = Vec::new();
            for (index, room) in rooms.iter().enumerate() {
                for member in room {
                    if !expected.iter().any(|(m, _)| m == member) {
                        expected.push((member.clone(), index));
                    }
                }
            }
            prop_assert_eq!(got, expected);
        }
    }
}
