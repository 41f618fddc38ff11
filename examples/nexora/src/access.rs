//! Who may join which channel. The same answer decides who may read and post in a
//! conversation, so "may subscribe" and "may post" can never disagree.
//!
//! [`rule`] is the pure half (decidable from the name and the user alone); [`may_join`] asks
//! the database for the membership facts a rule names.

use crate::channels::AppChannel;
use crate::db::{self, Db};

/// What it takes for a user to join a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Allow,
    Deny,
    /// Allowed when the user is a member of this guild.
    GuildMember(i64),
    /// Allowed when the user is a party (claimant, respondent or arbiter) of this dispute.
    DisputeParty(i64),
}

pub fn rule(user_id: i64, channel: &AppChannel) -> Rule {
    match *channel {
        AppChannel::Guild(guild) => Rule::GuildMember(guild),
        AppChannel::Dispute(dispute) => Rule::DisputeParty(dispute),
        AppChannel::Dm { low, high } if user_id == low || user_id == high => Rule::Allow,
        AppChannel::User(owner) if owner == user_id => Rule::Allow,
        AppChannel::Dm { .. } | AppChannel::User(_) => Rule::Deny,
        // Public: pusher-js never asks to authorize it, and there is nothing to sign.
        AppChannel::Global => Rule::Deny,
    }
}

pub async fn may_join(db: &Db, user_id: i64, channel: &AppChannel) -> sqlx::Result<bool> {
    match rule(user_id, channel) {
        Rule::Allow => Ok(true),
        Rule::Deny => Ok(false),
        Rule::GuildMember(guild) => db::guilds::is_member(&db.pool, guild, user_id).await,
        Rule::DisputeParty(dispute) => db::conversations::is_party(&db.pool, dispute, user_id).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dms_admit_exactly_their_two_users() {
        let dm = AppChannel::Dm { low: 2, high: 9 };
        assert_eq!(rule(2, &dm), Rule::Allow);
        assert_eq!(rule(9, &dm), Rule::Allow);
        assert_eq!(rule(3, &dm), Rule::Deny);
    }

    #[test]
    fn user_channels_admit_only_their_owner() {
        assert_eq!(rule(4, &AppChannel::User(4)), Rule::Allow);
        assert_eq!(rule(5, &AppChannel::User(4)), Rule::Deny);
    }

    #[test]
    fn guilds_and_disputes_need_membership() {
        assert_eq!(rule(1, &AppChannel::Guild(7)), Rule::GuildMember(7));
        assert_eq!(rule(1, &AppChannel::Dispute(3)), Rule::DisputeParty(3));
    }

    #[test]
    fn the_public_channel_is_never_signed() {
        assert_eq!(rule(1, &AppChannel::Global), Rule::Deny);
    }

    #[test]
    fn names_nexora_never_builds_are_refused_before_any_rule() {
        // The endpoint parses first; these never reach `rule`.
        for name in ["private-dm-9-2", "private-user-01", "presence-guild-1-extra", "private-anything"] {
            assert_eq!(AppChannel::parse(name), None, "{name}");
        }
    }
}
