//! TURN messages as a client writes and reads them, built with rtc-stun /
//! rtc-turn (signed with rtc-stun's own MESSAGE-INTEGRITY, so the server's
//! integrity code is checked against an independent implementation).

use rtc_stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use rtc_stun::error_code::ErrorCodeAttribute;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{
    Getter, Message, MessageType, Method, Setter, TransactionId, CLASS_INDICATION, CLASS_REQUEST,
    METHOD_SEND,
};
use rtc_stun::textattrs::TextAttribute;
use rtc_turn::proto::data::Data;
use rtc_turn::proto::peeraddr::PeerAddress;
use rtc_turn::proto::reqtrans::RequestedTransport;
use rtc_turn::proto::PROTO_UDP;
use std::net::SocketAddr;

/// What signs a request with long-term credentials.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The USERNAME.
    pub username: &'a str,
    /// The REALM (and the key's realm).
    pub realm: &'a str,
    /// The password the key derives from.
    pub password: &'a str,
    /// The NONCE the server handed out.
    pub nonce: &'a str,
}

/// A request of `method` with `attrs`, signed by `signer` if any, and
/// fingerprinted.
pub fn request(
    method: Method,
    tid: TransactionId,
    attrs: Vec<Box<dyn Setter>>,
    signer: Option<Signer<'_>>,
) -> Vec<u8> {
    let provider = rtc_stun::crypto::default_provider().expect("a crypto provider");
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(tid),
        Box::new(MessageType::new(method, CLASS_REQUEST)),
    ];
    setters.extend(attrs);
    if let Some(signer) = signer {
        for (attr, text) in [
            (ATTR_USERNAME, signer.username),
            (ATTR_REALM, signer.realm),
            (ATTR_NONCE, signer.nonce),
        ] {
            setters.push(Box::new(TextAttribute::new(attr, text.to_owned())));
        }
        // Integrity borrows the provider, so the message is built here.
        let integrity = MessageIntegrity::new_long_term_integrity_with_provider(
            signer.username.to_owned(),
            signer.realm.to_owned(),
            signer.password.to_owned(),
            provider.crypto(),
        )
        .expect("a long-term integrity key");
        setters.push(Box::new(integrity));
    }
    setters.push(Box::new(FINGERPRINT));
    let mut message = Message::new();
    message.build(&setters).expect("a buildable request");
    message.raw
}

/// REQUESTED-TRANSPORT UDP, what an Allocate carries.
pub fn udp_transport() -> Vec<Box<dyn Setter>> {
    vec![Box::new(RequestedTransport {
        protocol: PROTO_UDP,
    })]
}

/// A Send indication of `data` to `peer`.
pub fn send_indication(peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut message = Message::new();
    message
        .build(&[
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_SEND, CLASS_INDICATION)),
            Box::new(PeerAddress {
                ip: peer.ip(),
                port: peer.port(),
            }),
            Box::new(Data(data.to_vec())),
        ])
        .expect("a buildable indication");
    message.raw
}

/// A STUN message from its bytes (panics on anything else).
pub fn decode(bytes: &[u8]) -> Message {
    let mut message = Message::new();
    message.raw = bytes.to_vec();
    message.decode().expect("a STUN message");
    message
}

/// The ERROR-CODE of a response, if it has one.
pub fn error_code(message: &Message) -> Option<u16> {
    let mut code = ErrorCodeAttribute::default();
    code.get_from(message).ok().map(|_| code.code.0)
}
