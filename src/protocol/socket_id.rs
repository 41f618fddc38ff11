//! Socket ids: `^\d+\.\d+$`, the only shape every server library accepts.

use rand::Rng;
use std::fmt;

/// The id of one WebSocket connection, e.g. `1234567.8901234`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub high: u32,
    pub low: u32,
}

impl SocketId {
    /// A fresh random id: 62 bits from the OS-seeded thread RNG, so ids cannot be guessed
    /// from one another. Uniqueness against live sockets is checked by the caller.
    pub fn random() -> Self {
        let mut rng = rand::thread_rng();
        SocketId { high: rng.gen_range(1..=i32::MAX as u32), low: rng.gen_range(1..=i32::MAX as u32) }
    }

    /// Parses the `digits.digits` form; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        let digits = |p: &str| !p.is_empty() && p.len() <= 10 && p.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return None;
        }
        Some(SocketId { high: a.parse().ok()?, low: b.parse().ok()? })
    }

    /// True when `s` has the socket id shape, even with numbers too large for this server's ids
    /// (another server could have issued it; such an id simply matches no connection here).
    pub fn is_well_formed(s: &str) -> bool {
        match s.split_once('.') {
            Some((a, b)) => {
                !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            }
            None => false,
        }
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.high, self.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_round_trip_and_match_the_required_shape() {
        for _ in 0..100 {
            let id = SocketId::random();
            let text = id.to_string();
            assert!(SocketId::is_well_formed(&text));
            assert_eq!(SocketId::parse(&text), Some(id));
        }
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in ["", "1", "1.", ".1", "a.1", "1.2.3", "1.2 ", "-1.2", "1.2a"] {
            assert!(!SocketId::is_well_formed(bad), "{bad}");
            assert_eq!(SocketId::parse(bad), None, "{bad}");
        }
        assert!(SocketId::is_well_formed("99999999999999.1"));
        assert_eq!(SocketId::parse("99999999999999.1"), None);
    }
}
