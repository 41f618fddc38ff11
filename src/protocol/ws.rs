//! WebSocket framing (RFC 6455), server side.
//!
//! Frames herald sends are encoded once into a [`Frame`]: the complete bytes of an unmasked,
//! final frame. A broadcast to ten thousand sockets shares one allocation and writes it as is.
//!
//! Frames clients send are decoded by [`decode`], which checks the declared length against the
//! limit *before* buffering the payload, so a client announcing a huge frame costs nothing but
//! its header, and [`Assembler`] joins fragmented messages under the same limit.

use bytes::{Buf, Bytes, BytesMut};

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The most header bytes a server frame needs (2 + 8-byte length; servers never mask).
const MAX_HEADER: usize = 10;
/// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// One server-to-client frame, encoded once. Cloning shares the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    wire: Bytes,
    header_len: u8,
}

impl Frame {
    /// A text frame carrying `text`.
    pub fn text(text: &str) -> Frame {
        Frame::encode(OP_TEXT, text.len(), |buf| buf.extend_from_slice(text.as_bytes()))
    }

    /// A text frame whose payload `write` appends to the buffer it is given, so a serializer
    /// writes straight into the frame's only allocation. The payload must be UTF-8 (JSON is).
    pub fn text_with(write: impl FnOnce(&mut Vec<u8>)) -> Frame {
        Frame::encode(OP_TEXT, 128, write)
    }

    /// [`Frame::text_with`] for a payload of about `payload_len` bytes, known in advance.
    pub fn text_with_capacity(payload_len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Frame {
        Frame::encode(OP_TEXT, payload_len, write)
    }

    pub fn ping() -> Frame {
        Frame::encode(OP_PING, 0, |_| {})
    }

    /// A pong echoing a ping's payload (at most 125 bytes, which the decoder guarantees).
    pub fn pong(payload: &[u8]) -> Frame {
        Frame::encode(OP_PONG, payload.len(), |buf| buf.extend_from_slice(&payload[..payload.len().min(MAX_CONTROL_PAYLOAD)]))
    }

    /// A close frame with `code` and `reason`, the reason cut at a character boundary to fit
    /// the 125-byte control frame limit.
    pub fn close(code: u16, reason: &str) -> Frame {
        let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Frame::encode(OP_CLOSE, MAX_CONTROL_PAYLOAD, |buf| {
            buf.extend_from_slice(&code.to_be_bytes());
            buf.extend_from_slice(&reason.as_bytes()[..end]);
        })
    }

    /// Writes the payload after room for the longest header, then fills in the header just
    /// before the payload and keeps only the bytes in use.
    fn encode(opcode: u8, payload_capacity: usize, write: impl FnOnce(&mut Vec<u8>)) -> Frame {
        let mut buf = Vec::with_capacity(MAX_HEADER + payload_capacity);
        buf.resize(MAX_HEADER, 0);
        write(&mut buf);
        let len = buf.len() - MAX_HEADER;
        let header_len = match len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        let start = MAX_HEADER - header_len;
        buf[start] = 0x80 | opcode;
        match header_len {
            2 => buf[start + 1] = len as u8,
            4 => {
                buf[start + 1] = 126;
                buf[start + 2..MAX_HEADER].copy_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                buf[start + 1] = 127;
                buf[start + 2..MAX_HEADER].copy_from_slice(&(len as u64).to_be_bytes());
            }
        }
        // Advancing past the unused header room keeps a vector of exact capacity in `Bytes`
        // without a second allocation (slicing would make it shared at once).
        let mut wire = Bytes::from(buf);
        wire.advance(start);
        Frame { wire, header_len: header_len as u8 }
    }

    /// The bytes that go on the wire.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    pub fn payload(&self) -> &[u8] {
        &self.wire[self.header_len as usize..]
    }

    /// The payload of a text frame as text (empty for a payload that is not UTF-8, which
    /// herald never builds).
    pub fn text_payload(&self) -> &str {
        std::str::from_utf8(self.payload()).unwrap_or_default()
    }
}

/// One frame as a client sent it, unmasked.
#[derive(Debug)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: BytesMut,
}

/// Why a client's frames cannot be read; each maps to the close code RFC 6455 gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooLarge { limit: usize },
    Protocol(&'static str),
    InvalidUtf8,
}

impl FrameError {
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge { .. } => 1009,
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { limit } => write!(f, "message larger than the {limit}-byte limit"),
            FrameError::Protocol(why) => f.write_str(why),
            FrameError::InvalidUtf8 => f.write_str("text frame is not valid UTF-8"),
        }
    }
}

/// Takes one complete frame off the front of `buf`; `Ok(None)` when more bytes are needed.
pub fn decode(buf: &mut BytesMut, max_payload: usize) -> Result<Option<ClientFrame>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol("reserved bits set without a negotiated extension"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let control = opcode & 0x08 != 0;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
        _ => return Err(FrameError::Protocol("unknown opcode")),
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    let (len, len_bytes) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 2),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")), 8),
        126 | 127 => return Ok(None),
        n => (n as u64, 0),
    };
    if control && (len as usize > MAX_CONTROL_PAYLOAD || !fin) {
        return Err(FrameError::Protocol("control frames must be final and at most 125 bytes"));
    }
    if len > max_payload as u64 {
        return Err(FrameError::TooLarge { limit: max_payload });
    }
    let header = 2 + len_bytes + 4;
    let total = header + len as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mask: [u8; 4] = buf[header - 4..header].try_into().expect("4 bytes");
    buf.advance(header);
    let mut payload = buf.split_to(len as usize);
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
    Ok(Some(ClientFrame { fin, opcode, payload }))
}

/// A whole client message, after fragments are joined.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary,
    Ping(Bytes),
    Pong,
    /// The peer's close code, if it sent one.
    Close(Option<u16>),
}

/// Joins fragmented data messages (control frames may arrive between the fragments).
#[derive(Default)]
pub struct Assembler {
    partial: Option<(u8, BytesMut)>,
}

impl Assembler {
    /// Feeds one frame; returns a message once one is complete.
    pub fn push(&mut self, frame: ClientFrame, max_message: usize) -> Result<Option<Message>, FrameError> {
        match frame.opcode {
            OP_PING => return Ok(Some(Message::Ping(frame.payload.freeze()))),
            OP_PONG => return Ok(Some(Message::Pong)),
            OP_CLOSE => return close_payload(&frame.payload).map(|code| Some(Message::Close(code))),
            _ => {}
        }
        let (opcode, payload) = match (frame.opcode, self.partial.take()) {
            (OP_CONTINUATION, None) => return Err(FrameError::Protocol("continuation frame without a message to continue")),
            (OP_CONTINUATION, Some((opcode, mut joined))) => {
                if joined.len() + frame.payload.len() > max_message {
                    return Err(FrameError::TooLarge { limit: max_message });
                }
                joined.extend_from_slice(&frame.payload);
                (opcode, joined)
            }
            (_, Some(_)) => return Err(FrameError::Protocol("new message started before the fragmented one ended")),
            (opcode, None) => (opcode, frame.payload),
        };
        if !frame.fin {
            self.partial = Some((opcode, payload));
            return Ok(None);
        }
        match opcode {
            OP_TEXT => String::from_utf8(Vec::from(payload)).map(|t| Some(Message::Text(t))).map_err(|_| FrameError::InvalidUtf8),
            _ => Ok(Some(Message::Binary)),
        }
    }
}

/// A close frame's code, checked as RFC 6455 §5.5.1 and §7.4 ask: empty, or a code a peer
/// may send followed by a UTF-8 reason.
fn close_payload(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::Protocol("a close frame's payload must start with a 2-byte code")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // 1004 is reserved; 1005, 1006 and 1015 only ever stand for "no frame" locally.
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !sendable {
                return Err(FrameError::Protocol("close code that may not be sent in a close frame"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(FrameError::InvalidUtf8);
            }
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> BytesMut {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = BytesMut::new();
        out.extend_from_slice(&[if fin { 0x80 } else { 0 } | opcode]);
        match payload.len() {
            n @ 0..=125 => out.extend_from_slice(&[0x80 | n as u8]),
            n @ 126..=0xFFFF => {
                out.extend_from_slice(&[0x80 | 126]);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.extend_from_slice(&[0x80 | 127]);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn text_frames_use_the_shortest_length_encoding() {
        assert_eq!(&Frame::text("hi").wire()[..], b"\x81\x02hi");
        let medium = "x".repeat(300);
        assert_eq!(&Frame::text(&medium).wire()[..4], &[0x81, 126, 0x01, 0x2C]);
        let large = "y".repeat(70_000);
        let frame = Frame::text(&large);
        assert_eq!(&frame.wire()[..10], &[0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
        assert_eq!(frame.text_payload(), large);
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary_within_125_bytes() {
        let frame = Frame::close(4100, &"é".repeat(100));
        assert!(frame.payload().len() <= 125);
        assert_eq!(&frame.payload()[..2], &4100u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame.payload()[2..]).is_ok());
    }

    #[test]
    fn decodes_masked_frames_and_waits_for_partial_ones() {
        let mut buf = masked(OP_TEXT, true, b"{\"event\":\"x\"}");
        let whole = buf.clone();
        let mut partial = BytesMut::from(&whole[..5]);
        assert!(decode(&mut partial, 1024).unwrap().is_none());
        let frame = decode(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(&frame.payload[..], b"{\"event\":\"x\"}");
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_header_alone() {
        let mut header = BytesMut::from(&[0x81u8, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0][..]);
        assert_eq!(decode(&mut header, 10_000).unwrap_err(), FrameError::TooLarge { limit: 10_000 });
    }

    #[test]
    fn unmasked_frames_and_unknown_opcodes_are_protocol_errors() {
        let mut unmasked = BytesMut::from(&b"\x81\x02hi"[..]);
        assert_eq!(decode(&mut unmasked, 100).unwrap_err().close_code(), 1002);
        let mut unknown = masked(0x3, true, b"");
        assert_eq!(decode(&mut unknown, 100).unwrap_err().close_code(), 1002);
    }

    #[test]
    fn fragments_are_joined_around_control_frames() {
        let mut asm = Assembler::default();
        let mut buf = masked(OP_TEXT, false, b"hel");
        buf.extend_from_slice(&masked(OP_PING, true, b"p"));
        buf.extend_from_slice(&masked(OP_CONTINUATION, true, b"lo"));
        let mut out = Vec::new();
        while let Some(frame) = decode(&mut buf, 100).unwrap() {
            if let Some(message) = asm.push(frame, 100).unwrap() {
                out.push(message);
            }
        }
        assert_eq!(out, vec![Message::Ping(Bytes::from_static(b"p")), Message::Text("hello".into())]);
    }

    #[test]
    fn joined_fragments_obey_the_message_limit() {
        let mut asm = Assembler::default();
        let first = decode(&mut masked(OP_TEXT, false, &[b'a'; 60]), 64).unwrap().unwrap();
        assert!(asm.push(first, 100).unwrap().is_none());
        let second = decode(&mut masked(OP_CONTINUATION, true, &[b'b'; 60]), 64).unwrap().unwrap();
        assert_eq!(asm.push(second, 100).unwrap_err().close_code(), 1009);
    }

    #[test]
    fn close_frames_are_checked_as_rfc_6455_asks() {
        let close = |payload: &[u8]| {
            let frame = decode(&mut masked(OP_CLOSE, true, payload), 64).unwrap().unwrap();
            Assembler::default().push(frame, 64).map_err(|e| e.close_code())
        };
        assert_eq!(close(b""), Ok(Some(Message::Close(None))));
        assert_eq!(close(b"\x03\xe8bye"), Ok(Some(Message::Close(Some(1000)))));
        assert_eq!(close(b"\x0f\xa0"), Ok(Some(Message::Close(Some(4000)))));
        assert_eq!(close(b"\x03"), Err(1002), "a 1-byte payload");
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert_eq!(close(&code.to_be_bytes()), Err(1002), "code {code}");
        }
        assert_eq!(close(b"\x03\xe8\xff"), Err(1007), "a reason that is not UTF-8");
    }

    #[test]
    fn invalid_utf8_text_is_refused_with_1007() {
        let mut asm = Assembler::default();
        let frame = decode(&mut masked(OP_TEXT, true, &[0xff, 0xfe]), 64).unwrap().unwrap();
        assert_eq!(asm.push(frame, 64).unwrap_err().close_code(), 1007);
    }
}
