//! The event payload: a plain `data` string that carries what the receiver needs to measure
//! latency and loss, padded to the requested size.
//!
//! `pb1:{phase}:{stream}:{seq}:{sent_ns}:xxxx…` — `phase` separates warm-up, measured windows
//! and saturation steps; `stream` is the sequence space (the channel in `unicast`, the sender
//! in `client-events`, 0 in `fanout`); `sent_ns` is [`crate::sys::now_ns`] at publish time.
//! Only digits, letters and `:` appear, so the string needs no JSON escaping on any hop and
//! the receiver finds it with one substring search instead of parsing the frame.

use std::fmt::Write;

const MARK: &str = "pb1:";

/// What one published event says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub phase: u32,
    pub stream: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

impl Stamp {
    /// The `data` string for this stamp, padded with `x` to at least `size` bytes.
    pub fn encode(&self, size: usize) -> String {
        let mut s = String::with_capacity(size.max(48));
        let _ = write!(s, "{MARK}{}:{}:{}:{}:", self.phase, self.stream, self.seq, self.sent_ns);
        while s.len() < size {
            s.push('x');
        }
        s
    }

    /// Finds a stamp anywhere in a received frame (the frame's JSON layout does not matter).
    pub fn find(frame: &str) -> Option<Stamp> {
        let start = frame.find(MARK)? + MARK.len();
        let mut fields = frame[start..].splitn(5, ':');
        let mut next = || fields.next().and_then(|f| f.parse::<u64>().ok());
        Some(Stamp { phase: next()? as u32, stream: next()? as u32, seq: next()?, sent_ns: next()? })
    }
}

/// Per-receiver sequence tracking, one counter per stream.
#[derive(Default)]
pub struct SeqTracker {
    next: Vec<u64>,
}

impl SeqTracker {
    /// Records `seq` on `stream`; false when it arrived after a later sequence number.
    pub fn observe(&mut self, stream: u32, seq: u64) -> bool {
        let i = stream as usize;
        if i >= self.next.len() {
            self.next.resize(i + 1, 0);
        }
        if seq >= self.next[i] {
            self.next[i] = seq + 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_inside_a_frame() {
        let stamp = Stamp { phase: 3, stream: 17, seq: 42, sent_ns: 123_456_789_012 };
        let data = stamp.encode(100);
        assert_eq!(data.len(), 100);
        let frame = format!(r#"{{"event":"pb","channel":"c","data":"{data}"}}"#);
        assert_eq!(Stamp::find(&frame), Some(stamp));
        assert_eq!(Stamp::find(r#"{"event":"pusher:pong","data":"{}"}"#), None);
    }

    #[test]
    fn tracker_flags_late_arrivals() {
        let mut t = SeqTracker::default();
        assert!(t.observe(0, 0));
        assert!(t.observe(0, 2));
        assert!(!t.observe(0, 1));
        assert!(t.observe(5, 0));
    }
}
