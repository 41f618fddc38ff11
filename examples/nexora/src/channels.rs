//! Every channel name nexora uses is built here, and parsed back here. Nothing else in the
//! crate formats or splits a channel name.
//!
//! | channel                  | kind     | who may join                        |
//! |--------------------------|----------|-------------------------------------|
//! | `presence-guild-{id}`    | presence | members of the guild                |
//! | `private-dm-{a}-{b}`     | private  | users `a` and `b` (`a < b`)         |
//! | `private-dispute-{id}`   | private  | the dispute's parties               |
//! | `private-user-{id}`      | private  | user `id` alone                     |
//! | `platform-global`        | public   | everyone (no authorization request) |

pub const GLOBAL: &str = "platform-global";

pub fn guild(guild_id: i64) -> String {
    format!("presence-guild-{guild_id}")
}

/// The DM channel of two users; the ids are sorted so both sides build the same name.
pub fn dm(user_a: i64, user_b: i64) -> String {
    let (low, high) = if user_a <= user_b { (user_a, user_b) } else { (user_b, user_a) };
    format!("private-dm-{low}-{high}")
}

pub fn dispute(dispute_id: i64) -> String {
    format!("private-dispute-{dispute_id}")
}

pub fn user(user_id: i64) -> String {
    format!("private-user-{user_id}")
}

/// A channel name understood as one of nexora's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppChannel {
    Guild(i64),
    /// Always `low < high`: a name with unsorted or equal ids is not a nexora channel.
    Dm { low: i64, high: i64 },
    Dispute(i64),
    User(i64),
    Global,
}

impl AppChannel {
    /// Parses a channel name; `None` for any name nexora never builds, including ids with
    /// signs, leading zeros or trailing text, so one channel has exactly one name.
    pub fn parse(name: &str) -> Option<AppChannel> {
        if name == GLOBAL {
            return Some(AppChannel::Global);
        }
        if let Some(rest) = name.strip_prefix("presence-guild-") {
            return parse_id(rest).map(AppChannel::Guild);
        }
        if let Some(rest) = name.strip_prefix("private-dispute-") {
            return parse_id(rest).map(AppChannel::Dispute);
        }
        if let Some(rest) = name.strip_prefix("private-user-") {
            return parse_id(rest).map(AppChannel::User);
        }
        if let Some(rest) = name.strip_prefix("private-dm-") {
            let (a, b) = rest.split_once('-')?;
            let (low, high) = (parse_id(a)?, parse_id(b)?);
            return (low < high).then_some(AppChannel::Dm { low, high });
        }
        None
    }

    /// The name this channel is published under.
    pub fn name(&self) -> String {
        match *self {
            AppChannel::Guild(id) => guild(id),
            AppChannel::Dm { low, high } => dm(low, high),
            AppChannel::Dispute(id) => dispute(id),
            AppChannel::User(id) => user(id),
            AppChannel::Global => GLOBAL.to_string(),
        }
    }

    pub fn is_presence(&self) -> bool {
        matches!(self, AppChannel::Guild(_))
    }
}

/// A positive decimal id in canonical form (no sign, no leading zero).
fn parse_id(text: &str) -> Option<i64> {
    let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    canonical.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders() {
        assert_eq!(guild(7), "presence-guild-7");
        assert_eq!(dm(9, 2), "private-dm-2-9");
        assert_eq!(dm(2, 9), "private-dm-2-9");
        assert_eq!(dispute(3), "private-dispute-3");
        assert_eq!(user(12), "private-user-12");
        assert_eq!(GLOBAL, "platform-global");
    }

    #[test]
    fn parse_round_trips_every_builder() {
        for name in [guild(1), dm(5, 3), dispute(44), user(8), GLOBAL.to_string()] {
            let parsed = AppChannel::parse(&name).unwrap_or_else(|| panic!("{name} should parse"));
            assert_eq!(parsed.name(), name);
        }
        assert_eq!(AppChannel::parse("private-dm-3-5"), Some(AppChannel::Dm { low: 3, high: 5 }));
        assert!(AppChannel::parse("presence-guild-1").unwrap().is_presence());
        assert!(!AppChannel::parse("private-user-1").unwrap().is_presence());
    }

    #[test]
    fn parse_refuses_non_canonical_names() {
        for name in [
            "private-dm-5-3",
            "private-dm-4-4",
            "private-dm-1",
            "private-dm-1-2-3",
            "presence-guild-",
            "presence-guild-01",
            "presence-guild-+1",
            "presence-guild--1",
            "presence-guild-1x",
            "private-guild-1",
            "private-user-0",
            "presence-user-1",
            "private-dispute-99999999999999999999",
            "platform-global-2",
            "",
        ] {
            assert_eq!(AppChannel::parse(name), None, "{name}");
        }
    }
}
