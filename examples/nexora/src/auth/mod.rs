//! Who is asking: argon2 passwords, the signed session cookie and the [`CurrentUser`]
//! extractor. Nothing else in nexora decides a user's identity, and nothing trusts a user id
//! sent by the browser.

pub mod password;
pub mod session;

pub use session::{CurrentUser, Sessions};
