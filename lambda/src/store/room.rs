//! Rooms: the default room (a connection that named no channel) or a channel, and the
//! key each has in the store (pure).

use std::collections::BTreeSet;

use crate::wire::channel::Channel;

/// The default room's key: no channel name can be `#`.
pub const DEFAULT_ROOM: &str = "#";

/// A room: the default room or a channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Room {
    /// Where a connection that names no channel is; its messages carry no `_channel`.
    Default,
    Channel(Channel),
}

impl Room {
    /// The room's key in the store: `#` or the channel's name.
    pub fn key(&self) -> &str {
        match self {
            Room::Default => DEFAULT_ROOM,
            Room::Channel(channel) => channel.as_str(),
        }
    }

    /// The room of a stored key; `None` for a key that is neither (pure).
    pub fn from_key(key: &str) -> Option<Room> {
        if key == DEFAULT_ROOM {
            Some(Room::Default)
        } else {
            Channel::parse(key).ok().map(Room::Channel)
        }
    }

    /// The `_channel` a message delivered through this room carries.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Room::Default => None,
            Room::Channel(channel) => Some(channel.as_str()),
        }
    }
}

/// The rooms of a connection that asked for `channels` at connect: those channels, or
/// the default room when it named none (pure).
pub fn rooms_of(channels: &BTreeSet<Channel>) -> BTreeSet<Room> {
    if channels.is_empty() {
        BTreeSet::from([Room::Default])
    } else {
        channels.iter().cloned().map(Room::Channel).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_their_keys() {
        let a = Channel::parse("a").unwrap();
        assert_eq!(rooms_of(&BTreeSet::new()), BTreeSet::from([Room::Default]));
        assert_eq!(
            rooms_of(&BTreeSet::from([a.clone()])),
            BTreeSet::from([Room::Channel(a.clone())])
        );
        assert_eq!(Room::Default.key(), "#");
        assert_eq!(Room::from_key("#"), Some(Room::Default));
        assert_eq!(Room::from_key("a"), Some(Room::Channel(a)));
        assert_eq!(Room::from_key("~x"), None);
        // The default room sorts first: its members are reached through it first.
        assert!(Room::Default < Room::Channel(Channel::parse("0").unwrap()));
    }
}
