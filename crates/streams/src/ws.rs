//! The Kubernetes WebSocket channel framing (`channel.k8s.io` family).
//!
//! Binary protocols put the channel number in the first byte of each binary message and the
//! payload after it. The base64 variants send text messages whose first character is the
//! channel as an ASCII digit, followed by the payload in standard base64. Channels for exec:
//! 0 stdin, 1 stdout, 2 stderr, 3 error (status), 4 resize; in v5, 255 carries a "close this
//! channel" signal whose payload is the channel being closed (`[255, 0]`: stdin reached EOF).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Message;

/// Client's stdin.
pub(crate) const STDIN: u8 = 0;
/// Terminal resize events (JSON).
pub(crate) const RESIZE: u8 = 4;
/// v5 close signal.
pub(crate) const CLOSE: u8 = 255;

/// Builds the message carrying `data` on `channel`.
pub(crate) fn encode(channel: u8, data: &[u8], base64: bool) -> Message {
    if base64 {
        let mut text = String::with_capacity(1 + data.len().div_ceil(3) * 4);
        text.push(char::from(b'0' + channel % 10));
        STANDARD.encode_string(data, &mut text);
        Message::text(text)
    } else {
        let mut frame = BytesMut::with_capacity(1 + data.len());
        frame.put_u8(channel);
        frame.put_slice(data);
        Message::Binary(frame.freeze())
    }
}

/// Splits a data message into channel and payload; `None` for control messages, empty
/// messages and messages of the wrong kind or encoding.
pub(crate) fn decode(message: &Message, base64: bool) -> Option<(u8, Bytes)> {
    match (message, base64) {
        (Message::Binary(bytes), false) if !bytes.is_empty() => Some((bytes[0], bytes.slice(1..))),
        (Message::Text(text), true) => {
            let text = text.as_str();
            let channel = text.bytes().next().filter(u8::is_ascii_digit)? - b'0';
            let data = STANDARD.decode(&text[1..]).ok()?;
            Some((channel, Bytes::from(data)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_frames_lead_with_the_channel() {
        assert_eq!(
            encode(1, b"hi\n", false),
            Message::Binary(Bytes::from_static(b"\x01hi\n"))
        );
        assert_eq!(
            encode(3, b"", false),
            Message::Binary(Bytes::from_static(b"\x03"))
        );
        let stdin = Message::Binary(Bytes::from_static(b"\x00echo"));
        assert_eq!(
            decode(&stdin, false),
            Some((STDIN, Bytes::from_static(b"echo")))
        );
        let close = Message::Binary(Bytes::from_static(&[0xff, 0x00]));
        assert_eq!(
            decode(&close, false),
            Some((CLOSE, Bytes::from_static(&[0])))
        );
    }

    #[test]
    fn empty_and_control_messages_carry_no_channel() {
        assert_eq!(decode(&Message::Binary(Bytes::new()), false), None);
        assert_eq!(
            decode(&Message::Ping(Bytes::from_static(b"x")), false),
            None
        );
        assert_eq!(decode(&Message::text("0aGk="), false), None);
    }

    #[test]
    fn base64_frames_use_a_digit_and_standard_base64() {
        assert_eq!(encode(2, b"oops", true), Message::text("2b29wcw=="));
        assert_eq!(
            decode(&Message::text("0aGkK"), true),
            Some((0, Bytes::from_static(b"hi\n")))
        );
        assert_eq!(decode(&Message::text("x aGk="), true), None);
        assert_eq!(decode(&Message::text("0***"), true), None);
    }
}
