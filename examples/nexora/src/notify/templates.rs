//! The twelve notification types and their templates. A template's `{placeholders}` are
//! filled from the notification's data object; a missing key renders as an empty string and
//! strings, numbers and booleans render as written.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationType {
    BountyMatched,
    BountyAccepted,
    BountySubmitted,
    BountyReviewed,
    GuildApplicationAccepted,
    GuildInvite,
    DisputeRaised,
    TribunalVoteNeeded,
    RankChanged,
    TrustScoreChanged,
    MessageReceived,
    PlatformAnnouncement,
}

/// What a notification shows: title, message and icon, each possibly with placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub title: &'static str,
    pub message: &'static str,
    pub icon: &'static str,
}

/// A filled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub title: String,
    pub message: String,
    pub icon: String,
}

impl NotificationType {
    pub const ALL: [NotificationType; 12] = [
        NotificationType::BountyMatched,
        NotificationType::BountyAccepted,
        NotificationType::BountySubmitted,
        NotificationType::BountyReviewed,
        NotificationType::GuildApplicationAccepted,
        NotificationType::GuildInvite,
        NotificationType::DisputeRaised,
        NotificationType::TribunalVoteNeeded,
        NotificationType::RankChanged,
        NotificationType::TrustScoreChanged,
        NotificationType::MessageReceived,
        NotificationType::PlatformAnnouncement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::BountyMatched => "bounty_matched",
            NotificationType::BountyAccepted => "bounty_accepted",
            NotificationType::BountySubmitted => "bounty_submitted",
            NotificationType::BountyReviewed => "bounty_reviewed",
            NotificationType::GuildApplicationAccepted => "guild_application_accepted",
            NotificationType::GuildInvite => "guild_invite",
            NotificationType::DisputeRaised => "dispute_raised",
            NotificationType::TribunalVoteNeeded => "tribunal_vote_needed",
            NotificationType::RankChanged => "rank_changed",
            NotificationType::TrustScoreChanged => "trust_score_changed",
            NotificationType::MessageReceived => "message_received",
            NotificationType::PlatformAnnouncement => "platform_announcement",
        }
    }

    pub fn parse(name: &str) -> Option<NotificationType> {
        NotificationType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn template(self) -> Template {
        let t = |title, message, icon| Template { title, message, icon };
        match self {
            NotificationType::BountyMatched => t("New bounty match", "\"{bounty_title}\" matches your skills ({match_score}% match).", "🎯"),
            NotificationType::BountyAccepted => t("Bounty accepted", "{hunter_name} accepted your bounty \"{bounty_title}\".", "🤝"),
            NotificationType::BountySubmitted => t("Work submitted", "{hunter_name} submitted work for \"{bounty_title}\".", "📦"),
            NotificationType::BountyReviewed => t("Submission reviewed", "Your submission for \"{bounty_title}\" was {outcome}.", "📝"),
            NotificationType::GuildApplicationAccepted => t("Welcome to {guild_name}", "Your application to {guild_name} was accepted.", "🛡️"),
            NotificationType::GuildInvite => t("Guild invitation", "{inviter_name} invited you to join {guild_name}.", "✉️"),
            NotificationType::DisputeRaised => t("Dispute raised", "{raised_by_name} raised a dispute: \"{dispute_title}\".", "⚖️"),
            NotificationType::TribunalVoteNeeded => t("Tribunal vote needed", "Your vote is needed on dispute #{dispute_id}: \"{dispute_title}\".", "🗳️"),
            NotificationType::RankChanged => t("Rank changed", "Your rank changed from {old_rank} to {new_rank}.", "🏅"),
            NotificationType::TrustScoreChanged => t("Trust score changed", "Your trust score went from {old_score} to {new_score} ({reason}).", "📊"),
            NotificationType::MessageReceived => t("New message from {sender_name}", "{preview}", "💬"),
            NotificationType::PlatformAnnouncement => t("{title}", "{message}", "📢"),
        }
    }

    pub fn render(self, data: &Value) -> Rendered {
        let template = self.template();
        Rendered { title: fill(template.title, data), message: fill(template.message, data), icon: template.icon.to_string() }
    }
}

/// Replaces each `{key}` in `text` with `data[key]`. An unclosed `{` is kept as written.
pub fn fill(text: &str, data: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                match data.get(&after[..close]) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_round_trips_its_name_and_has_a_template() {
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.as_str()), Some(t));
            let template = t.template();
            assert!(!template.title.is_empty() && !template.message.is_empty() && !template.icon.is_empty(), "{t:?}");
        }
        assert_eq!(NotificationType::parse("nope"), None);
        let names: std::collections::HashSet<_> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), 12);
    }

    #[test]
    fn templates_fill_from_data() {
        let r = NotificationType::BountyMatched.render(&json!({ "bounty_title": "Fix the login bug", "match_score": 92 }));
        assert_eq!(r.title, "New bounty match");
        assert_eq!(r.message, "\"Fix the login bug\" matches your skills (92% match).");
        assert_eq!(r.icon, "🎯");

        let r = NotificationType::TrustScoreChanged.render(&json!({ "old_score": 620, "new_score": 600, "reason": "inactivity" }));
        assert_eq!(r.message, "Your trust score went from 620 to 600 (inactivity).");

        let r = NotificationType::MessageReceived.render(&json!({ "sender_name": "alice", "preview": "hi there" }));
        assert_eq!((r.title.as_str(), r.message.as_str()), ("New message from alice", "hi there"));

        let r = NotificationType::PlatformAnnouncement.render(&json!({ "title": "Oracle", "message": "2 critical anomalies" }));
        assert_eq!((r.title.as_str(), r.message.as_str(), r.icon.as_str()), ("Oracle", "2 critical anomalies", "📢"));

        let r = NotificationType::GuildApplicationAccepted.render(&json!({ "guild_name": "Night Owls" }));
        assert_eq!(r.title, "Welcome to Night Owls");
    }

    #[test]
    fn fill_edge_cases() {
        assert_eq!(fill("a {missing} b", &json!({})), "a  b");
        assert_eq!(fill("{x}{x}", &json!({ "x": true })), "truetrue");
        assert_eq!(fill("no placeholders", &json!({ "x": 1 })), "no placeholders");
        assert_eq!(fill("open { never closed", &json!({})), "open { never closed");
        assert_eq!(fill("{n}", &json!({ "n": null })), "");
        assert_eq!(fill("{a}", &json!("not an object")), "");
    }
}
