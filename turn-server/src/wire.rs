//! The wire format on top of `rtc-stun` / `rtc-turn`: decoding with the
//! checks a server needs, MESSAGE-INTEGRITY with a long-term key, response
//! building, ChannelData and the framing of stream transports.

use crate::auth::IntegrityKey;
use hmac::{Hmac, Mac};
use rtc_stun::attributes::{AttrType, ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY};
use rtc_stun::error_code::{ErrorCode, ErrorCodeAttribute};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::message::{
    Message, MessageClass, MessageType, Setter, TransactionId, MAGIC_COOKIE, MESSAGE_HEADER_SIZE,
};
use rtc_turn::proto::channum::{MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER};
use sha1::Sha1;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const INTEGRITY_LEN: usize = 20;
const ATTR_HEADER: usize = 4;
const CHANNEL_HEADER: usize = 4;

/// Decodes a STUN message, or `None` if it is not one: bad header, length
/// beyond the buffer or not a multiple of 4, an attribute overrunning the
/// message, or a FINGERPRINT that is not last or does not match.
pub(crate) fn decode(bytes: &[u8]) -> Option<Message> {
    if bytes.len() < MESSAGE_HEADER_SIZE || bytes[0] & 0xC0 != 0 {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if length % 4 != 0 || bytes.len() < MESSAGE_HEADER_SIZE + length {
        return None;
    }
    let mut message = Message::new();
    message.raw.clear();
    message
        .raw
        .extend_from_slice(&bytes[..MESSAGE_HEADER_SIZE + length]);
    message.decode().ok()?;
    let fingerprint_at = message
        .attributes
        .0
        .iter()
        .position(|a| a.typ == ATTR_FINGERPRINT);
    if let Some(index) = fingerprint_at {
        if index + 1 != message.attributes.0.len() || FINGERPRINT.check(&message).is_err() {
            return None;
        }
    }
    Some(message)
}

/// The MESSAGE-INTEGRITY attribute keyed with a long-term credential key;
/// apply it after every attribute but FINGERPRINT.
pub(crate) struct Integrity<'a>(pub(crate) &'a IntegrityKey);

impl Setter for Integrity<'_> {
    fn add_to(&self, m: &mut Message) -> Result<(), rtc_shared::error::Error> {
        let length = m.length;
        // The HMAC covers the header with the length as if the attribute
        // were already there (RFC 5389 §15.4).
        m.length += (ATTR_HEADER + INTEGRITY_LEN) as u32;
        m.write_length();
        let mac = hmac_sha1(self.0, &[&m.raw]);
        m.length = length;
        m.write_length();
        let mac = mac.ok_or(rtc_shared::error::Error::ErrIntegrityMismatch)?;
        m.add(ATTR_MESSAGE_INTEGRITY, &mac);
        Ok(())
    }
}

/// Whether the message carries a MESSAGE-INTEGRITY made with `key`.
pub(crate) fn integrity_ok(message: &Message, key: &IntegrityKey) -> bool {
    let mut offset = 0usize;
    for attribute in &message.attributes.0 {
        if attribute.typ == ATTR_MESSAGE_INTEGRITY {
            if attribute.value.len() != INTEGRITY_LEN {
                return false;
            }
            let end = MESSAGE_HEADER_SIZE + offset;
            let Some(covered) = message.raw.get(4..end) else {
                return false;
            };
            let Ok(length) = u16::try_from(offset + ATTR_HEADER + INTEGRITY_LEN) else {
                return false;
            };
            let head = [message.raw[0], message.raw[1]];
            let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
                return false;
            };
            mac.update(&head);
            mac.update(&length.to_be_bytes());
            mac.update(covered);
            return mac.verify_slice(&attribute.value).is_ok();
        }
        offset += ATTR_HEADER + padded(usize::from(attribute.length));
    }
    false
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Option<[u8; INTEGRITY_LEN]> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
}

/// A response to `request` of class `class` with `attributes`, then
/// MESSAGE-INTEGRITY (if `key`), then FINGERPRINT (if the request had one).
/// `None` if an attribute could not be encoded.
pub(crate) fn response(
    request: &Message,
    class: MessageClass,
    attributes: Vec<Box<dyn Setter + '_>>,
    key: Option<&IntegrityKey>,
) -> Option<Vec<u8>> {
    let mut setters: Vec<Box<dyn Setter + '_>> = Vec::with_capacity(attributes.len() + 4);
    setters.push(Box::new(request.transaction_id));
    setters.push(Box::new(MessageType::new(request.typ.method, class)));
    setters.extend(attributes);
    if let Some(key) = key {
        setters.push(Box::new(Integrity(key)));
    }
    if request.contains(ATTR_FINGERPRINT) {
        setters.push(Box::new(FINGERPRINT));
    }
    let mut message = Message::new();
    message.build(&setters).ok()?;
    Some(message.raw)
}

/// An ERROR-CODE attribute with its standard reason phrase.
pub(crate) fn error_code(code: u16) -> ErrorCodeAttribute {
    let reason = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        508 => "Insufficient Capacity",
        _ => "Server Error",
    };
    ErrorCodeAttribute {
        code: ErrorCode(code),
        reason: reason.as_bytes().to_vec(),
    }
}

/// An indication of `typ` with a fresh transaction id.
pub(crate) fn indication(
    typ: MessageType,
    attributes: Vec<Box<dyn Setter + '_>>,
) -> Option<Vec<u8>> {
    let mut setters: Vec<Box<dyn Setter + '_>> = Vec::with_capacity(attributes.len() + 2);
    setters.push(Box::new(TransactionId::new()));
    setters.push(Box::new(typ));
    setters.extend(attributes);
    let mut message = Message::new();
    message.build(&setters).ok()?;
    Some(message.raw)
}

/// A raw attribute value (`typ`) for [`Setter`] lists.
pub(crate) struct RawValue(pub(crate) AttrType, pub(crate) Vec<u8>);

impl Setter for RawValue {
    fn add_to(&self, m: &mut Message) -> Result<(), rtc_shared::error::Error> {
        m.add(self.0, &self.1);
        Ok(())
    }
}

/// Decodes an XOR-*-ADDRESS value; `None` unless the family and length are
/// exactly IPv4 (8 bytes) or IPv6 (20 bytes).
pub(crate) fn xor_address(value: &[u8], transaction_id: &TransactionId) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match (value.get(1)?, value.len()) {
        (0x01, 8) => {
            let mut ip = [0u8; 4];
            for (i, b) in ip.iter_mut().enumerate() {
                *b = value[4 + i] ^ cookie[i];
            }
            IpAddr::V4(Ipv4Addr::from(ip))
        }
        (0x02, 20) => {
            let mut pad = [0u8; 16];
            pad[..4].copy_from_slice(&cookie);
            pad[4..].copy_from_slice(&transaction_id.0);
            let mut ip = [0u8; 16];
            for (i, b) in ip.iter_mut().enumerate() {
                *b = value[4 + i] ^ pad[i];
            }
            IpAddr::V6(Ipv6Addr::from(ip))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// A ChannelData message split into channel number and payload, or `None`.
/// Trailing bytes (padding) after the payload are allowed.
pub(crate) fn parse_channel_data(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let number = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
    let length = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    if !(MIN_CHANNEL_NUMBER..=MAX_CHANNEL_NUMBER).contains(&number) {
        return None;
    }
    let data = bytes.get(CHANNEL_HEADER..CHANNEL_HEADER + length)?;
    Some((number, data))
}

/// A ChannelData message, padded to 4 bytes when `pad` (stream transports).
/// `None` if the payload does not fit the 16-bit length.
pub(crate) fn channel_data(number: u16, data: &[u8], pad: bool) -> Option<Vec<u8>> {
    let length = u16::try_from(data.len()).ok()?;
    let total = if pad {
        CHANNEL_HEADER + padded(data.len())
    } else {
        CHANNEL_HEADER + data.len()
    };
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&number.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(data);
    out.resize(total, 0);
    Some(out)
}

/// How much of a stream transport's buffer the next message takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to tell.
    Incomplete,
    /// The next message is this many bytes (ChannelData including padding).
    Complete(usize),
    /// The bytes are neither STUN nor ChannelData: close the connection.
    Invalid,
}

/// Frames STUN messages and ChannelData (padded to 4 bytes) on TCP/TLS by
/// their own length fields.
pub fn stream_frame(buf: &[u8]) -> Frame {
    let Some(first) = buf.first() else {
        return Frame::Incomplete;
    };
    match first >> 6 {
        0 => {
            if buf.len() < 8 {
                return Frame::Incomplete;
            }
            let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            if cookie != MAGIC_COOKIE || length % 4 != 0 {
                return Frame::Invalid;
            }
            complete_if(buf, MESSAGE_HEADER_SIZE + length)
        }
        1 => {
            if buf.len() < CHANNEL_HEADER {
                return Frame::Incomplete;
            }
            let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            complete_if(buf, CHANNEL_HEADER + padded(length))
        }
        _ => Frame::Invalid,
    }
}

fn complete_if(buf: &[u8], total: usize) -> Frame {
    if buf.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Incomplete
    }
}

fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_stun::integrity::MessageIntegrity;
    use rtc_stun::message::BINDING_REQUEST;
    use rtc_stun::textattrs::TextAttribute;

    #[test]
    fn integrity_matches_rtc_stun_both_ways() {
        let provider = rtc_stun::crypto::default_provider().unwrap();
        let key = crate::auth::long_term_key("1:u", "realm", "pw");
        let theirs =
            MessageIntegrity::new_raw_integrity_with_provider(key.to_vec(), provider.crypto());
        let mut signed_by_them = Message::new();
        signed_by_them
            .build(&[
                Box::new(TransactionId::new()),
                Box::new(BINDING_REQUEST),
                Box::new(TextAttribute::new(
                    rtc_stun::attributes::ATTR_USERNAME,
                    "1:u".into(),
                )),
                Box::new(theirs),
                Box::new(FINGERPRINT),
            ])
            .unwrap();
        let decoded = decode(&signed_by_them.raw).unwrap();
        assert!(integrity_ok(&decoded, &key));
        assert!(!integrity_ok(&decoded, &[0; 16]));

        let ours = response(
            &decoded,
            rtc_stun::message::CLASS_SUCCESS_RESPONSE,
            vec![Box::new(TextAttribute::new(
                rtc_stun::attributes::ATTR_SOFTWARE,
                "x".into(),
            ))],
            Some(&key),
        )
        .unwrap();
        let mut back = Message::new();
        back.raw = ours;
        back.decode().unwrap();
        MessageIntegrity::check(&mut back, &key, provider.crypto()).unwrap();
        FINGERPRINT.check(&back).unwrap();
    }

    #[test]
    fn decode_refuses_broken_messages() {
        let mut m = Message::new();
        m.build(&[
            Box::new(TransactionId::new()),
            Box::new(BINDING_REQUEST),
            Box::new(FINGERPRINT),
        ])
        .unwrap();
        assert!(decode(&m.raw).is_some());
        let mut bad_fingerprint = m.raw.clone();
        let last = bad_fingerprint.len() - 1;
        bad_fingerprint[last] ^= 1;
        assert!(decode(&bad_fingerprint).is_none());
        assert!(decode(&m.raw[..m.raw.len() - 1]).is_none());
        assert!(decode(&[0u8; 19]).is_none());
        let mut huge = m.raw.clone();
        huge[2] = 0xff;
        huge[3] = 0xfc;
        assert!(decode(&huge).is_none());
    }

    #[test]
    fn channel_data_round_trips_with_and_without_padding() {
        let udp = channel_data(0x4001, b"hello", false).unwrap();
        assert_eq!(udp.len(), 9);
        let tcp = channel_data(0x4001, b"hello", true).unwrap();
        assert_eq!(tcp.len(), 12);
        assert_eq!(parse_channel_data(&udp), Some((0x4001, &b"hello"[..])));
        assert_eq!(parse_channel_data(&tcp), Some((0x4001, &b"hello"[..])));
        assert_eq!(parse_channel_data(&[0x3f, 0xff, 0, 0]), None);
        assert_eq!(parse_channel_data(&[0x40, 0x00, 0, 9, 1]), None);
        assert_eq!(stream_frame(&tcp), Frame::Complete(12));
        assert_eq!(stream_frame(&tcp[..11]), Frame::Incomplete);
    }

    #[test]
    fn stream_framing_tells_stun_channel_data_and_garbage_apart() {
        let mut m = Message::new();
        m.build(&[Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)])
            .unwrap();
        let mut two = m.raw.clone();
        two.extend_from_slice(&m.raw);
        assert_eq!(stream_frame(&two), Frame::Complete(20));
        assert_eq!(stream_frame(&m.raw[..7]), Frame::Incomplete);
        assert_eq!(stream_frame(b"\xffGARBAGE"), Frame::Invalid);
        // "GE" is channel 0x4745 with length 0x5420: it waits for more
        // bytes, and the idle timeout closes the connection.
        assert_eq!(stream_frame(b"GET / HTTP/1.1\r\n"), Frame::Incomplete);
        assert_eq!(stream_frame(&[0x80]), Frame::Invalid);
        assert_eq!(stream_frame(&[0, 1, 0, 4, 1, 2, 3, 4]), Frame::Invalid);
        assert_eq!(stream_frame(&[]), Frame::Incomplete);
    }

    #[test]
    fn xor_addresses_decode_strictly() {
        let tid = TransactionId([9; 12]);
        let mut m = Message::new();
        m.transaction_id = tid;
        let peer = rtc_turn::proto::peeraddr::PeerAddress {
            ip: "192.0.2.1".parse().unwrap(),
            port: 4242,
        };
        peer.add_to(&mut m).unwrap();
        let value = &m.attributes.0[0].value;
        assert_eq!(
            xor_address(value, &tid),
            Some("192.0.2.1:4242".parse().unwrap())
        );
        assert_eq!(xor_address(&value[..7], &tid), None);
        let v6 = rtc_turn::proto::peeraddr::PeerAddress {
            ip: "2001:db8::1".parse().unwrap(),
            port: 1,
        };
        let mut m6 = Message::new();
        m6.transaction_id = tid;
        v6.add_to(&mut m6).unwrap();
        assert_eq!(
            xor_address(&m6.attributes.0[0].value, &tid),
            Some("[2001:db8::1]:1".parse().unwrap())
        );
    }
}
