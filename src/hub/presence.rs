//! A presence channel's member roster: users, not sockets.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// A presence member as the app's auth endpoint described it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The id as a string, the roster key (a user is one member however many sockets).
    pub key: String,
    /// The id exactly as received (string or number), echoed back in member events.
    pub user_id: Value,
    pub user_info: Value,
}

impl Member {
    /// The member as one JSON record (`{"user_id", "user_info"}`), as the cluster stores it.
    pub fn to_record(&self) -> String {
        serde_json::json!({ "user_id": self.user_id, "user_info": self.user_info }).to_string()
    }

    /// Reads a record written by [`Member::to_record`].
    pub fn from_record(record: &str) -> Option<Member> {
        let v: Value = serde_json::from_str(record).ok()?;
        let user_id = v.get("user_id")?.clone();
        let key = match &user_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(Member { key, user_id, user_info: v.get("user_info").cloned().unwrap_or(Value::Null) })
    }
}

/// The `{presence:{ids,hash,count}}` payload of `subscription_succeeded` for `members`.
pub fn subscription_data<'a>(members: impl Iterator<Item = &'a Member>) -> Value {
    let mut ids = Vec::new();
    let mut hash = Map::new();
    for member in members {
        ids.push(member.user_id.clone());
        hash.insert(member.key.clone(), member.user_info.clone());
    }
    let count = ids.len();
    serde_json::json!({ "presence": { "ids": ids, "hash": hash, "count": count } })
}

#[derive(Default)]
pub struct Roster {
    members: HashMap<String, (Member, u32)>,
}

impl Roster {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.contains_key(key)
    }

    /// Adds one socket of `member`; true when the user was not a member before.
    pub fn join(&mut self, member: Member) -> bool {
        match self.members.get_mut(&member.key) {
            Some((existing, sockets)) => {
                *sockets += 1;
                // A user's latest authorization wins, as its info may have changed.
                existing.user_info = member.user_info;
                false
            }
            None => {
                self.members.insert(member.key.clone(), (member, 1));
                true
            }
        }
    }

    /// Removes one socket of the user; returns the member when it was their last socket.
    pub fn leave(&mut self, key: &str) -> Option<Member> {
        let (_, sockets) = self.members.get_mut(key)?;
        *sockets -= 1;
        if *sockets == 0 {
            self.members.remove(key).map(|(m, _)| m)
        } else {
            None
        }
    }

    /// The `{presence:{ids,hash,count}}` payload of `subscription_succeeded`.
    pub fn subscription_data(&self) -> Value {
        subscription_data(self.members.values().map(|(m, _)| m))
    }

    /// One member of this roster, by roster key.
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members.get(key).map(|(m, _)| m)
    }

    /// Each member with the number of this node's sockets it has in the channel.
    pub fn members_with_sockets(&self) -> impl Iterator<Item = (&Member, u32)> {
        self.members.values().map(|(m, n)| (m, *n))
    }

    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        Member { key: id.into(), user_id: Value::String(id.into()), user_info: serde_json::json!({"name": id}) }
    }

    #[test]
    fn a_user_on_two_sockets_is_one_member() {
        let mut r = Roster::default();
        assert!(r.join(member("a")));
        assert!(!r.join(member("a")));
        assert!(r.join(member("b")));
        assert_eq!(r.len(), 2);
        assert_eq!(r.leave("a"), None);
        assert_eq!(r.leave("a").map(|m| m.key), Some("a".into()));
        assert_eq!(r.len(), 1);
        let data = r.subscription_data();
        assert_eq!(data["presence"]["count"], 1);
        assert_eq!(data["presence"]["hash"]["b"]["name"], "b");
        assert_eq!(data["presence"]["ids"][0], "b");
    }

    #[test]
    fn records_round_trip_with_numeric_ids() {
        let m = Member { key: "7".into(), user_id: serde_json::json!(7), user_info: serde_json::json!({"n": 1}) };
        assert_eq!(Member::from_record(&m.to_record()), Some(m));
        assert_eq!(Member::from_record("not json"), None);
    }
}
