//! The one place that decides what kind of channel a name denotes.

/// The kind of a channel, decided by its name prefix alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    PrivateEncrypted,
    Presence,
    /// `#server-to-user-{id}`: only a socket signed in as `{id}` may subscribe.
    ServerToUser,
}

/// A channel name classified once: its kind, whether it caches its last event, and for
/// server-to-user channels the user id it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelType<'a> {
    pub kind: ChannelKind,
    pub cache: bool,
    pub server_to_user: Option<&'a str>,
}

pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

impl<'a> ChannelType<'a> {
    /// Classifies a channel name. Order matters and mirrors pusher-js: `private-encrypted-`
    /// before `private-`; `cache-` only as a whole prefix segment (`foo-cache-bar` is public).
    pub fn of(name: &'a str) -> Self {
        let plain = |kind, rest: &str| ChannelType { kind, cache: rest.starts_with("cache-"), server_to_user: None };
        if let Some(user) = name.strip_prefix(SERVER_TO_USER_PREFIX) {
            ChannelType { kind: ChannelKind::ServerToUser, cache: false, server_to_user: Some(user) }
        } else if let Some(rest) = name.strip_prefix("private-encrypted-") {
            plain(ChannelKind::PrivateEncrypted, rest)
        } else if let Some(rest) = name.strip_prefix("private-") {
            plain(ChannelKind::Private, rest)
        } else if let Some(rest) = name.strip_prefix("presence-") {
            plain(ChannelKind::Presence, rest)
        } else {
            plain(ChannelKind::Public, name)
        }
    }

    /// Private, encrypted and presence channels need a signed `auth` to subscribe.
    pub fn requires_auth(&self) -> bool {
        matches!(self.kind, ChannelKind::Private | ChannelKind::PrivateEncrypted | ChannelKind::Presence)
    }

    pub fn is_presence(&self) -> bool {
        self.kind == ChannelKind::Presence
    }

    /// Client events are relayed on private and presence channels only; encrypted channels
    /// are excluded because their payloads must come from the app server's encryption.
    pub fn allows_client_events(&self) -> bool {
        matches!(self.kind, ChannelKind::Private | ChannelKind::Presence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> (ChannelKind, bool) {
        let t = ChannelType::of(name);
        (t.kind, t.cache)
    }

    #[test]
    fn classifies_every_prefix() {
        use ChannelKind::*;
        assert_eq!(kind("news"), (Public, false));
        assert_eq!(kind("cache-news"), (Public, true));
        assert_eq!(kind("foo-cache-bar"), (Public, false));
        assert_eq!(kind("private-a"), (Private, false));
        assert_eq!(kind("private-cache-a"), (Private, true));
        assert_eq!(kind("private-encrypted-a"), (PrivateEncrypted, false));
        assert_eq!(kind("private-encrypted-cache-a"), (PrivateEncrypted, true));
        assert_eq!(kind("presence-a"), (Presence, false));
        assert_eq!(kind("presence-cache-a"), (Presence, true));
        assert_eq!(kind("privatefoo"), (Public, false));
        let s2u = ChannelType::of("#server-to-user-42");
        assert_eq!((s2u.kind, s2u.server_to_user), (ServerToUser, Some("42")));
    }

    #[test]
    fn client_events_only_on_private_and_presence() {
        assert!(ChannelType::of("private-a").allows_client_events());
        assert!(ChannelType::of("presence-cache-a").allows_client_events());
        assert!(!ChannelType::of("public").allows_client_events());
        assert!(!ChannelType::of("private-encrypted-a").allows_client_events());
        assert!(!ChannelType::of("#server-to-user-1").allows_client_events());
    }
}
