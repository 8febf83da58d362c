//! Reading the one STUN message the mux needs to understand: an ICE
//! connectivity check (a Binding request, RFC 8489), for its USERNAME and
//! its MESSAGE-INTEGRITY. Pure: bytes in, answer out.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The fixed STUN header length.
const HEADER_LEN: usize = 20;
/// RFC 8489's magic cookie, at bytes 4..8 of every STUN message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// Binding request (method 0x001, class request).
const BINDING_REQUEST: u16 = 0x0001;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
/// An HMAC-SHA1 is 20 bytes.
const INTEGRITY_LEN: usize = 20;
/// RFC 8489: USERNAME is at most 513 bytes.
const MAX_USERNAME_LEN: usize = 513;

/// Why a datagram is not a usable connectivity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StunError {
    /// No STUN header (RTP, DTLS, or noise).
    #[error("not a STUN message")]
    NotStun,
    /// STUN, but not a Binding request.
    #[error("not a Binding request")]
    NotBindingRequest,
    /// Lengths that do not add up.
    #[error("malformed STUN message")]
    Malformed,
    /// No USERNAME, or one that is not `<ufrag>:<ufrag>` text.
    #[error("no usable USERNAME")]
    Username,
    /// No MESSAGE-INTEGRITY after the USERNAME.
    #[error("no MESSAGE-INTEGRITY")]
    NoIntegrity,
}

/// A Binding request as received: its USERNAME and where its
/// MESSAGE-INTEGRITY sits, so it can be checked against a password.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BindingRequest<'a> {
    message: &'a [u8],
    username: &'a str,
    /// Offset of the MESSAGE-INTEGRITY attribute's header.
    integrity_at: usize,
}

impl<'a> BindingRequest<'a> {
    /// Reads `message` as a Binding request carrying a USERNAME and a
    /// MESSAGE-INTEGRITY (anything after the integrity, a FINGERPRINT, is
    /// not read).
    pub(crate) fn parse(message: &'a [u8]) -> Result<Self, StunError> {
        if message.len() < HEADER_LEN || message[0] & 0xc0 != 0 || message[4..8] != MAGIC_COOKIE {
            return Err(StunError::NotStun);
        }
        if u16::from_be_bytes([message[0], message[1]]) != BINDING_REQUEST {
            return Err(StunError::NotBindingRequest);
        }
        let body_len = usize::from(u16::from_be_bytes([message[2], message[3]]));
        if body_len % 4 != 0 || HEADER_LEN + body_len > message.len() {
            return Err(StunError::Malformed);
        }
        let message = &message[..HEADER_LEN + body_len];
        let mut username = None;
        let mut at = HEADER_LEN;
        while at + 4 <= message.len() {
            let kind = u16::from_be_bytes([message[at], message[at + 1]]);
            let len = usize::from(u16::from_be_bytes([message[at + 2], message[at + 3]]));
            let value = message
                .get(at + 4..at + 4 + len)
                .ok_or(StunError::Malformed)?;
            match kind {
                ATTR_USERNAME => {
                    if len > MAX_USERNAME_LEN {
                        return Err(StunError::Username);
                    }
                    let text = std::str::from_utf8(value).map_err(|_| StunError::Username)?;
                    username = Some(text);
                }
                ATTR_MESSAGE_INTEGRITY => {
                    if len != INTEGRITY_LEN {
                        return Err(StunError::Malformed);
                    }
                    let username = username.ok_or(StunError::Username)?;
                    if username
                        .split_once(':')
                        .is_none_or(|(l, r)| l.is_empty() || r.is_empty())
                    {
                        return Err(StunError::Username);
                    }
                    return Ok(BindingRequest {
                        message,
                        username,
                        integrity_at: at,
                    });
                }
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        Err(StunError::NoIntegrity)
    }

    /// The receiver's ufrag: the USERNAME's part before the colon (the
    /// SFU's own, for a check a client sends to it).
    pub(crate) fn local_ufrag(&self) -> &'a str {
        self.username.split_once(':').map_or("", |(local, _)| local)
    }

    /// Whether the MESSAGE-INTEGRITY is an HMAC-SHA1 keyed with
    /// `password` (ICE short-term credentials): the header's length as if
    /// the message ended after the integrity attribute, then every byte
    /// before that attribute.
    pub(crate) fn verifies_with(&self, password: &str) -> bool {
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(password.as_bytes()) else {
            return false;
        };
        let end = self.integrity_at + 4 + INTEGRITY_LEN;
        let Ok(covered_len) = u16::try_from(end - HEADER_LEN) else {
            return false;
        };
        mac.update(&self.message[..2]);
        mac.update(&covered_len.to_be_bytes());
        mac.update(&self.message[4..self.integrity_at]);
        mac.verify_slice(&self.message[self.integrity_at + 4..end])
            .is_ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rtc::stun::attributes::ATTR_USERNAME as USERNAME;
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::integrity::MessageIntegrity;
    use rtc::stun::message::{Message, Setter, TransactionId, BINDING_REQUEST as REQUEST};
    use rtc::stun::textattrs::TextAttribute;

    /// A connectivity check as an ICE agent sends it (rtc-stun's encoder):
    /// USERNAME `username`, integrity keyed with `password`, FINGERPRINT.
    pub(crate) fn check(username: &str, password: &str) -> Vec<u8> {
        let provider = rtc::crypto::default_provider().expect("a crypto provider");
        let mut m = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(REQUEST),
            Box::new(TransactionId::new()),
            Box::new(TextAttribute::new(USERNAME, username.to_owned())),
            Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
                password.to_owned(),
                provider.crypto(),
            )),
            Box::new(FINGERPRINT),
        ];
        m.build(&setters).expect("a valid message");
        m.raw
    }

    #[test]
    fn a_real_check_parses_and_verifies_with_its_password_only() {
        let raw = check("sfuufrag:clientufrag", "the-sfu-password-123456");
        let request = BindingRequest::parse(&raw).expect("parses");
        assert_eq!(request.local_ufrag(), "sfuufrag");
        assert!(request.verifies_with("the-sfu-password-123456"));
        assert!(!request.verifies_with("another-password-123456"));
    }

    #[test]
    fn tampering_breaks_the_integrity() {
        let mut raw = check("sfuufrag:clientufrag", "pw-pw-pw-pw-pw-pw-pw");
        // Flip a byte of the transaction ID (covered by the HMAC).
        raw[10] ^= 1;
        let request = BindingRequest::parse(&raw).expect("still parses");
        assert!(!request.verifies_with("pw-pw-pw-pw-pw-pw-pw"));
    }

    #[test]
    fn what_is_not_a_usable_check_is_refused() {
        assert_eq!(
            BindingRequest::parse(&[0x80, 0x60, 0, 0]).err(),
            Some(StunError::NotStun)
        );
        assert_eq!(
            BindingRequest::parse(&[0u8; 64]).err(),
            Some(StunError::NotStun)
        );
        let mut response = check("a:b", "pw-pw-pw-pw-pw-pw-pw");
        response[0] = 0x01; // 0x0101: Binding success response
        assert_eq!(
            BindingRequest::parse(&response).err(),
            Some(StunError::NotBindingRequest)
        );
        let mut long = check("a:b", "pw-pw-pw-pw-pw-pw-pw");
        long[3] = long[3].wrapping_add(4); // claims more than it has
        assert_eq!(
            BindingRequest::parse(&long).err(),
            Some(StunError::Malformed)
        );
        for bad in ["nocolon", ":right", "left:"] {
            assert_eq!(
                BindingRequest::parse(&check(bad, "pw-pw-pw-pw-pw-pw-pw")).err(),
                Some(StunError::Username),
                "{bad}"
            );
        }
        // A header and nothing else.
        let mut bare = check("a:b", "pw-pw-pw-pw-pw-pw-pw")[..20].to_vec();
        bare[2] = 0;
        bare[3] = 0;
        assert_eq!(
            BindingRequest::parse(&bare).err(),
            Some(StunError::NoIntegrity)
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let base = check("sfu:client", "pw-pw-pw-pw-pw-pw-pw");
        for seed in 0..2000u32 {
            let mut bytes = base.clone();
            let at = (seed as usize * 7) % bytes.len();
            bytes[at] = (seed % 251) as u8;
            bytes.truncate(bytes.len() - (seed as usize % 9));
            if let Ok(r) = BindingRequest::parse(&bytes) {
                let _ = r.verifies_with("pw-pw-pw-pw-pw-pw-pw");
            }
            let noise: Vec<u8> = (0..(seed % 80)).map(|i| (i * seed) as u8).collect();
            let _ = BindingRequest::parse(&noise);
        }
    }
}
