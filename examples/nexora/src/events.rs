//! Every event name nexora publishes or listens for. The page (web/app.js) and the tests use
//! the same strings; change them together.

pub const MESSAGE_NEW: &str = "message:new";
pub const MESSAGE_EDIT: &str = "message:edit";
pub const MESSAGE_DELETE: &str = "message:delete";

/// Server-side typing events, for clients that cannot send client events.
pub const TYPING_START: &str = "typing:start";
pub const TYPING_STOP: &str = "typing:stop";
/// The client-event form browsers send directly on the guild presence channel (herald relays
/// `client-*` events between members without a round trip through nexora).
pub const CLIENT_TYPING_START: &str = "client-typing:start";
pub const CLIENT_TYPING_STOP: &str = "client-typing:stop";

pub const NOTIFICATION_NEW: &str = "notification:new";
pub const NOTIFICATION_READ: &str = "notification:read";

pub const BOUNTY_NEW: &str = "bounty:new";
pub const BOUNTY_ACCEPTED: &str = "bounty:accepted";
pub const BOUNTY_SUBMITTED: &str = "bounty:submitted";

pub const GUILD_MEMBER_JOIN: &str = "guild:member-join";
pub const GUILD_UPDATED: &str = "guild:updated";

pub const DISPUTE_RAISED: &str = "dispute:raised";
pub const DISPUTE_RESOLVED: &str = "dispute:resolved";

pub const USER_RANK_CHANGED: &str = "user:rank-changed";
pub const USER_TRUST_CHANGED: &str = "user:trust-changed";
