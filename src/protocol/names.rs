//! Validation of channel names, event names and user ids, with messages that say what is wrong.

use super::channel::SERVER_TO_USER_PREFIX;

/// The characters every Pusher library allows in channel names and user ids.
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'@' | b',' | b'.' | b';')
}

/// Checks a channel name against the allowed characters and `max_len`.
/// `#server-to-user-{id}` is accepted (the libraries' `sendToUser` publishes to it).
pub fn validate_channel_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("Channel name must not be empty".into());
    }
    if name.len() > max_len {
        return Err(format!("Channel name is too long ({} characters, the limit is {max_len})", name.len()));
    }
    let body = name.strip_prefix(SERVER_TO_USER_PREFIX).unwrap_or(name);
    if body.is_empty() || !body.bytes().all(is_name_char) {
        return Err(format!(
            "Invalid channel name '{}': use only letters, digits and _ - = @ , . ;",
            truncate(name, 210)
        ));
    }
    Ok(())
}

/// Checks an event name: non-empty and at most `max_len` bytes.
pub fn validate_event_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("Event name must not be empty".into());
    }
    if name.len() > max_len {
        return Err(format!("Event name is too long ({} characters, the limit is {max_len})", name.len()));
    }
    Ok(())
}

/// Checks a user id (sign-in `id`, presence `user_id`).
pub fn validate_user_id(id: &str, max_len: usize) -> Result<(), String> {
    if id.is_empty() {
        return Err("User id must not be empty".into());
    }
    if id.len() > max_len {
        return Err(format!("User id is too long ({} characters, the limit is {max_len})", id.len()));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        assert!(validate_channel_name("private-a_b-c=d@e,f.g;h", 200).is_ok());
        assert!(validate_channel_name("#server-to-user-42", 200).is_ok());
        assert!(validate_channel_name("", 200).is_err());
        assert!(validate_channel_name("has space", 200).is_err());
        assert!(validate_channel_name("#other", 200).is_err());
        assert!(validate_channel_name("#server-to-user-", 200).is_err());
        assert!(validate_channel_name(&"a".repeat(200), 200).is_ok());
        assert!(validate_channel_name(&"a".repeat(201), 200).unwrap_err().contains("too long"));
        assert!(validate_channel_name("é", 200).is_err());
    }

    #[test]
    fn event_names() {
        assert!(validate_event_name("my-event", 200).is_ok());
        assert!(validate_event_name("", 200).is_err());
        assert!(validate_event_name(&"e".repeat(201), 200).is_err());
    }
}
