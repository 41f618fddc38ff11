//! Signed-in users on this node: which sockets each user has, and who watches whom.
//!
//! Server-to-user events are delivered through this index (every socket signed in as the
//! user), not through channel subscriptions, so a user never receives one twice.

use crate::protocol::ws::Frame;
use dashmap::DashMap;
use std::collections::HashSet;

use super::conn::ConnHandle;
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;

#[derive(Default)]
pub struct Users {
    /// user id → that user's signed-in sockets on this node.
    sockets: DashMap<String, Vec<ConnHandle>>,
    /// watched user id → sockets whose watchlist names that user.
    watchers: DashMap<String, HashSet<SocketId>>,
    /// socket → handle, for sockets with a watchlist.
    watcher_handles: DashMap<SocketId, ConnHandle>,
}

impl Users {
    /// Records a signed-in socket. Returns true when this is the user's first socket, i.e.
    /// the user just came online.
    pub fn sign_in(&self, user_id: &str, conn: &ConnHandle) -> bool {
        let mut entry = self.sockets.entry(user_id.to_string()).or_default();
        let first = entry.is_empty();
        if !entry.iter().any(|c| c.socket_id == conn.socket_id) {
            entry.push(conn.clone());
        }
        first
    }

    /// Forgets a socket. Returns true when it was the user's last one (the user went offline).
    pub fn sign_out(&self, user_id: &str, socket_id: &SocketId) -> bool {
        let Some(mut entry) = self.sockets.get_mut(user_id) else { return false };
        let before = entry.len();
        entry.retain(|c| &c.socket_id != socket_id);
        let went_offline = before > 0 && entry.is_empty();
        drop(entry);
        if went_offline {
            self.sockets.remove_if(user_id, |_, v| v.is_empty());
        }
        went_offline
    }

    /// Every signed-in user on this node with its socket count.
    pub fn socket_counts(&self) -> Vec<(String, usize)> {
        self.sockets.iter().map(|e| (e.key().clone(), e.value().len())).collect()
    }

    /// How many sockets are signed in as `user_id` on this node.
    pub fn socket_count(&self, user_id: &str) -> usize {
        self.sockets.get(user_id).map_or(0, |v| v.len())
    }

    pub fn is_online(&self, user_id: &str) -> bool {
        self.sockets.get(user_id).is_some_and(|v| !v.is_empty())
    }

    /// Every socket signed in as `user_id` on this node.
    pub fn sockets_of(&self, user_id: &str) -> Vec<ConnHandle> {
        self.sockets.get(user_id).map(|v| v.clone()).unwrap_or_default()
    }

    /// Enqueues `frame` to every socket of `user_id` except `except`: `(attempted, queued)`.
    pub fn send_to_user(&self, user_id: &str, frame: &Frame, except: Option<&SocketId>) -> (usize, usize) {
        let Some(conns) = self.sockets.get(user_id) else { return (0, 0) };
        let targets: Vec<&ConnHandle> = conns.iter().filter(|c| Some(&c.socket_id) != except).collect();
        (targets.len(), targets.into_iter().filter(|c| c.send(frame.clone())).count())
    }

    /// Registers `conn` as watching `watched`.
    pub fn watch(&self, conn: &ConnHandle, watched: &[String]) {
        self.watcher_handles.insert(conn.socket_id, conn.clone());
        for id in watched {
            self.watchers.entry(id.clone()).or_default().insert(conn.socket_id);
        }
    }

    pub fn unwatch(&self, socket_id: &SocketId, watched: &[String]) {
        self.watcher_handles.remove(socket_id);
        for id in watched {
            if let Some(mut set) = self.watchers.get_mut(id) {
                set.remove(socket_id);
                let empty = set.is_empty();
                drop(set);
                if empty {
                    self.watchers.remove_if(id, |_, s| s.is_empty());
                }
            }
        }
    }

    /// Tells everyone watching `user_id` that it went `online` or `offline`.
    pub fn notify_watchers(&self, user_id: &str, online: bool) {
        let Some(watchers) = self.watchers.get(user_id) else { return };
        let ids = [user_id];
        let frame = if online { watchlist_frame(&ids, &[]) } else { watchlist_frame(&[], &ids) };
        for socket in watchers.iter() {
            if let Some(conn) = self.watcher_handles.get(socket) {
                conn.send(frame.clone());
            }
        }
    }
}

/// `pusher_internal:watchlist_events` with one `online` and/or one `offline` entry.
pub fn watchlist_frame(online: &[&str], offline: &[&str]) -> Frame {
    let mut events = Vec::new();
    if !online.is_empty() {
        events.push(serde_json::json!({ "name": "online", "user_ids": online }));
    }
    if !offline.is_empty() {
        events.push(serde_json::json!({ "name": "offline", "user_ids": offline }));
    }
    outbound::event_json("pusher_internal:watchlist_events", None, &serde_json::json!({ "events": events }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_on_first_socket_offline_after_last() {
        let users = Users::default();
        let (a, _ia) = ConnHandle::new(SocketId::random(), 8);
        let (b, _ib) = ConnHandle::new(SocketId::random(), 8);
        assert!(users.sign_in("u", &a));
        assert!(!users.sign_in("u", &b));
        assert!(!users.sign_out("u", &a.socket_id));
        assert!(users.is_online("u"));
        assert!(users.sign_out("u", &b.socket_id));
        assert!(!users.is_online("u"));
    }

    #[test]
    fn watchers_hear_transitions() {
        let users = Users::default();
        let (w, iw) = ConnHandle::new(SocketId::random(), 8);
        users.watch(&w, &["x".to_string()]);
        users.notify_watchers("x", true);
        let frame = iw.pop_text().unwrap();
        assert!(frame.contains("watchlist_events") && frame.contains("online"));
        users.unwatch(&w.socket_id, &["x".to_string()]);
        users.notify_watchers("x", false);
        assert!(iw.pop_text().is_none());
    }
}
