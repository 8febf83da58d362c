//! One function per fuzz target.

use crate::announce::{usable_remote_candidate, Announce};
use crate::barcode::{self, Stamp};
use crate::forwarder::{
    self, KeyframeDecision, KeyframeLimiter, KEYFRAME_COPIES_WITHIN, KEYFRAME_REQUEST_INTERVAL,
    KEYFRAME_RESEND_AFTER,
};
use crate::frame::VideoFrame;
use crate::stun::BindingRequest;
use crate::turn_frame::read_frame;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use protocol::token::{self, Expectation, Privilege, Privileges, TokenClaims, TokenError};
use protocol::{ClientMessage, ServerMessage};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters};
use rtc::shared::marshal::{Marshal, Unmarshal};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Signaling: `ClientMessage::decode` and `ServerMessage::decode` never
/// panic, and what decodes survives encode -> decode unchanged.
pub fn signaling(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = ClientMessage::decode(text) {
        let encoded = message.encode();
        let again = ClientMessage::decode(&encoded)
            .unwrap_or_else(|e| panic!("re-decoding {encoded:?} failed: {e}"));
        assert_eq!(again, message, "client message round trip of {text:?}");
    }
    if let Ok(message) = ServerMessage::decode(text) {
        let encoded = message.encode();
        let again = ServerMessage::decode(&encoded)
            .unwrap_or_else(|e| panic!("re-decoding {encoded:?} failed: {e}"));
        assert_eq!(again, message, "server message round trip of {text:?}");
    }
}

/// Tokens: `peek` and `verify` never panic; `verify` is Ok only when the
/// signature is the HMAC of the signed part under that secret (checked here
/// independently), never under another secret, and never for a minted
/// token changed in any byte; a minted token is never called forged.
///
/// Input: `[mode][secret_len][secret][now: 8][rest]`. Mode even: `rest` is
/// the token text. Mode odd: `rest` describes claims that are minted, then
/// one byte of the token is replaced.
pub fn token(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    let secret_len = usize::from(input.u8() % 48);
    let secret = input.bytes(secret_len).to_vec();
    let now = input.u64() % (1 << 40);
    if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(input.rest()) else {
            return;
        };
        check_token(text, &secret, now, None);
        return;
    }
    let privileges = Privileges {
        login: input.u8() % 2 == 0,
        publish: input.u8() % 2 == 0,
    };
    let app_id = input.u32();
    let iat = input.u64() % (1 << 40);
    let ttl = input.u64() % (1 << 40);
    let room = input.string();
    let user = input.string();
    let room = (input.u8() % 2 == 0).then_some(room);
    let claims = TokenClaims::new(app_id, user, room, privileges, iat, ttl);
    let minted = token::mint(&secret, &claims);
    match token::peek(&minted) {
        Ok(peeked) => assert_eq!(peeked, claims, "peek of a minted token"),
        Err(e) => assert_eq!(e, TokenError::Malformed, "peek of a minted token"),
    }
    let ok = check_token(&minted, &secret, now, Some(&claims));
    if ok {
        // Every byte matters: a changed token is never accepted.
        let at = usize::from(input.u16()) % minted.len();
        let mut bytes = minted.clone().into_bytes();
        let byte = input.u8();
        if bytes[at] != byte {
            bytes[at] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                let claims = token::peek(&changed).ok();
                if let Some(c) = &claims {
                    let expect = expectation(c, Privilege::Login);
                    assert!(
                        token::verify(&changed, &secret, &expect, now).is_err(),
                        "a changed token verified: {changed:?} (minted {minted:?})"
                    );
                }
            }
        }
    }
}

/// Verifies `text` against the expectation its own claims give (so the
/// check reaches the signature), with both privileges; true when one
/// verified.
fn check_token(text: &str, secret: &[u8], now: u64, minted: Option<&TokenClaims>) -> bool {
    let Ok(claims) = token::peek(text) else {
        let expect = Expectation {
            app_id: 0,
            user_id: "",
            room_id: "",
            privilege: Privilege::Login,
        };
        assert!(token::verify(text, secret, &expect, now).is_err());
        return false;
    };
    let mut any = false;
    for privilege in [Privilege::Login, Privilege::Publish] {
        let expect = expectation(&claims, privilege);
        match token::verify(text, secret, &expect, now) {
            Ok(verified) => {
                assert_eq!(verified, claims, "verify and peek disagree on {text:?}");
                assert!(
                    signature_holds(text, secret),
                    "a forged token verified: {text:?}"
                );
                let mut other = secret.to_vec();
                other.push(0x5a);
                assert!(
                    token::verify(text, &other, &expect, now).is_err(),
                    "a token verified under another secret: {text:?}"
                );
                any = true;
            }
            Err(TokenError::Forged) => {
                assert!(
                    minted.is_none(),
                    "a minted token was called forged: {text:?}"
                );
                assert!(
                    !signature_holds(text, secret),
                    "a good signature was refused"
                );
            }
            Err(_) => {}
        }
    }
    any
}

fn expectation(claims: &TokenClaims, privilege: Privilege) -> Expectation<'_> {
    Expectation {
        app_id: claims.app_id,
        user_id: &claims.user_id,
        room_id: claims.room_id.as_deref().unwrap_or(""),
        privilege,
    }
}

/// The token's signature, decoded, is HMAC-SHA256(secret, everything before
/// the last dot): the format's definition, computed without the crate.
fn signature_holds(text: &str, secret: &[u8]) -> bool {
    let Some((signed, sig)) = text.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(signed.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// SFU forwarding: an RTP packet off the network, rewritten for a player
/// leg (`forwarder::rewrite_for_leg`), marshals, and reads back with the
/// leg's SSRC and payload type, no header extensions, and everything else
/// (sequence, timestamp, marker, CSRCs, payload) unchanged.
///
/// Input: `[ssrc: 4][payload type][packet]`.
pub fn rtp_forward(data: &[u8]) {
    let mut input = Input(data);
    let ssrc = input.u32();
    let payload_type = input.u8() & 0x7f;
    let mut raw = input.rest();
    let Ok(original) = rtp::Packet::unmarshal(&mut raw) else {
        return;
    };
    let mut packet = original.clone();
    forwarder::rewrite_for_leg(&mut packet, ssrc, payload_type);
    let bytes = packet
        .marshal()
        .unwrap_or_else(|e| panic!("a rewritten packet does not marshal: {e}; {packet:?}"));
    let mut bytes = &bytes[..];
    let back = rtp::Packet::unmarshal(&mut bytes)
        .unwrap_or_else(|e| panic!("a rewritten packet does not read back: {e}; {packet:?}"));
    assert_eq!(back.header.ssrc, ssrc);
    assert_eq!(back.header.payload_type, payload_type);
    assert!(!back.header.extension && back.header.extensions.is_empty());
    assert_eq!(back.header.sequence_number, original.header.sequence_number);
    assert_eq!(back.header.timestamp, original.header.timestamp);
    assert_eq!(back.header.marker, original.header.marker);
    assert_eq!(back.header.csrc, original.header.csrc);
    assert_eq!(back.payload, original.payload, "payload changed");
}

/// SFU RTCP: compound packets off the network parse without panicking;
/// what the SFU relays (PLI, FIR, SR) marshals and reads back equal; and
/// the keyframe limiter, driven by the same bytes as a sequence of
/// requests and keyframe arrivals, never lets two PLIs (forced ones aside)
/// reach a publisher within `KEYFRAME_REQUEST_INTERVAL` of one a keyframe
/// answered, nor within `KEYFRAME_RESEND_AFTER` of one none did, and
/// drops a request only as a copy of a PLI just sent or when a keyframe
/// arrived after it.
///
/// Input: `[mode][...]`: mode even: an RTCP compound packet; odd: limiter
/// steps of `[advance ms: 2][flags]` (bit 0: forced, bit 1: a keyframe
/// arrives first).
pub fn rtcp(data: &[u8]) {
    let mut input = Input(data);
    if input.u8() % 2 == 0 {
        let mut raw = input.rest();
        let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut raw) else {
            return;
        };
        for packet in &packets {
            let any = packet.as_any();
            if let Some(p) = any.downcast_ref::<PictureLossIndication>() {
                assert_eq!(&round_trip(p), p);
            } else if let Some(p) = any.downcast_ref::<FullIntraRequest>() {
                assert_eq!(&round_trip(p), p);
            } else if let Some(p) = any.downcast_ref::<SenderReport>() {
                assert_eq!(&round_trip(p), p);
            } else {
                let _ = packet.marshal();
            }
        }
        return;
    }
    let start = Instant::now();
    let mut now = start;
    let mut limiter = KeyframeLimiter::default();
    let mut last_sent: Option<Instant> = None;
    let mut keyframe: Option<Instant> = None;
    // The delayed request: when it is due, and when it was made.
    let mut scheduled: Option<(Instant, Instant)> = None;
    // The least spacing from the last PLI sent to the next at `at`.
    let spacing = |last: Instant, keyframe: Option<Instant>| {
        if keyframe.is_some_and(|k| k >= last) {
            KEYFRAME_REQUEST_INTERVAL
        } else {
            KEYFRAME_RESEND_AFTER
        }
    };
    while !input.is_empty() {
        now += Duration::from_millis(u64::from(input.u16() % 1000));
        let flags = input.u8();
        if let Some((at, since)) = scheduled.filter(|(at, _)| *at <= now) {
            let answered = keyframe.is_some_and(|k| k >= since && k <= at);
            let sent = limiter.fire_pending(at);
            assert_eq!(
                sent, !answered,
                "a due request sent iff no keyframe answered it"
            );
            if sent {
                if let Some(last) = last_sent {
                    assert!(at.duration_since(last) >= spacing(last, keyframe));
                }
                last_sent = Some(at);
            }
            scheduled = None;
        }
        if flags & 2 == 2 {
            limiter.keyframe_arrived(now);
            keyframe = Some(now);
        }
        let force = flags & 1 == 1;
        match limiter.decide(now, force) {
            KeyframeDecision::Now => {
                if !force {
                    if let Some(last) = last_sent {
                        let apart = now.duration_since(last);
                        assert!(apart >= spacing(last, keyframe), "two PLIs {apart:?} apart");
                    }
                    last_sent = Some(now);
                }
            }
            KeyframeDecision::At(at) => {
                assert!(scheduled.is_none(), "a second request scheduled");
                assert!(at > now && at <= now + KEYFRAME_REQUEST_INTERVAL);
                scheduled = Some((at, now));
            }
            KeyframeDecision::Folded => {
                let copy =
                    last_sent.is_some_and(|l| now.duration_since(l) < KEYFRAME_COPIES_WITHIN);
                assert!(scheduled.is_some() || copy, "a request folded into nothing");
            }
        }
    }
}

fn round_trip<P: Marshal + Unmarshal>(packet: &P) -> P {
    let bytes = packet.marshal().expect("a relayed RTCP packet marshals");
    let mut bytes = &bytes[..];
    P::unmarshal(&mut bytes).expect("a relayed RTCP packet reads back")
}

/// SDP and candidates: the SFU's candidate announcement
/// (`Announce::candidate`, `Announce::sdp`), the trickled-candidate filter,
/// the offer's sending sections and the payload type match never panic;
/// each announced copy keeps the candidate's field count, active TCP
/// candidates are never announced, and lines that are not candidates pass
/// through unchanged.
///
/// Input: `[ips: 1][udp port: 2][tcp port: 2][flags][text]`.
pub fn sdp_announce(data: &[u8]) {
    let mut input = Input(data);
    let count = usize::from(input.u8() % 4);
    let ips: Vec<IpAddr> = (0..count)
        .map(|i| IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8 + 1)))
        .collect();
    let udp = input.u16();
    let tcp = input.u16();
    let flags = input.u8();
    let announce = Announce {
        ips: ips.clone(),
        udp_port: (flags & 1 == 1).then_some(udp),
        tcp_port: (flags & 2 == 2).then_some(tcp),
    };
    let Ok(text) = std::str::from_utf8(input.rest()) else {
        return;
    };
    for line in text.lines() {
        let body = line.strip_prefix("a=").unwrap_or(line);
        let copies = announce.candidate(body);
        let fields = body.split(' ').count();
        for copy in &copies {
            assert_eq!(copy.split(' ').count(), fields, "{body:?} -> {copy:?}");
        }
        if fields > 5 && !copies.is_empty() {
            assert_eq!(copies.len(), ips.len().max(1));
        }
        let _ = usable_remote_candidate(body);
    }
    let out = announce.sdp(text);
    let kept = |s: &str| -> Vec<String> {
        s.split_inclusive('\n')
            .filter(|l| !l.starts_with("a=candidate:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(kept(&out), kept(text), "non-candidate lines changed");
    let _ = forwarder::sending_sections(text);
    let mut fmtps = text.lines();
    let source = RTCRtpCodec {
        mime_type: fmtps.next().unwrap_or("video/H264").to_owned(),
        sdp_fmtp_line: fmtps.next().unwrap_or_default().to_owned(),
        ..Default::default()
    };
    let negotiated: Vec<RTCRtpCodecParameters> = fmtps
        .take(usize::from(u8::MAX))
        .zip(0u8..)
        .map(|(line, pt)| RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: line.split(' ').next().unwrap_or_default().to_owned(),
                sdp_fmtp_line: line.to_owned(),
                ..Default::default()
            },
            payload_type: pt,
        })
        .collect();
    if let Some(pt) = forwarder::negotiated_payload_type(&source, &negotiated) {
        assert!(negotiated.iter().any(|c| c.payload_type == pt));
    }
}

/// The mux's STUN reader: `BindingRequest::parse` never panics on a
/// datagram, and a check built here with a USERNAME and a password parses
/// and verifies with that password only.
///
/// Input: `[mode][...]`: mode even: a datagram; odd: `[password len]
/// [password][username]`.
pub fn stun_check(data: &[u8]) {
    let mut input = Input(data);
    if input.u8() % 2 == 0 {
        if let Ok(check) = BindingRequest::parse(input.rest()) {
            let _ = check.local_ufrag();
            let _ = check.verifies_with("password");
        }
        return;
    }
    let len = usize::from(input.u8() % 64);
    let password = String::from_utf8_lossy(input.bytes(len)).into_owned();
    let username = String::from_utf8_lossy(input.rest()).into_owned();
    if username.len() > 513 {
        return;
    }
    let message = binding_request(&username, &password);
    match BindingRequest::parse(&message) {
        Ok(check) => {
            assert!(username.starts_with(check.local_ufrag()));
            assert!(
                check.verifies_with(&password),
                "a good check did not verify"
            );
            assert!(!check.verifies_with(&format!("{password}x")));
        }
        Err(_) => assert!(
            username
                .split_once(':')
                .is_none_or(|(l, r)| l.is_empty() || r.is_empty()),
            "a well-formed check was refused: {username:?}"
        ),
    }
}

/// A Binding request as RFC 8489 lays it out: USERNAME, MESSAGE-INTEGRITY
/// (HMAC-SHA1 keyed by the password), FINGERPRINT (not checked by the mux,
/// so zeros).
fn binding_request(username: &str, password: &str) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&0x0006u16.to_be_bytes());
    m.extend_from_slice(&(username.len() as u16).to_be_bytes());
    m.extend_from_slice(username.as_bytes());
    m.resize(m.len().next_multiple_of(4), 0);
    let with_integrity = (m.len() + 24 - 20) as u16;
    m[2..4].copy_from_slice(&with_integrity.to_be_bytes());
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(password.as_bytes()).expect("any key");
    mac.update(&m);
    m.extend_from_slice(&0x0008u16.to_be_bytes());
    m.extend_from_slice(&20u16.to_be_bytes());
    m.extend_from_slice(&mac.finalize().into_bytes());
    m.extend_from_slice(&[0x80, 0x28, 0, 4, 0, 0, 0, 0]);
    let total = (m.len() - 20) as u16;
    m[2..4].copy_from_slice(&total.to_be_bytes());
    m
}

/// The barcode reader: `read_near` never panics on any frame (a decoded
/// picture's size and buffer come from the network), and a stamp drawn on
/// any picture of a valid size reads back.
///
/// Input: `[mode][...]`: mode even: `[width: 2][height: 2][buffer]`; odd:
/// `[width/2][height/2][frame: 4][time: 6][pixels]`.
pub fn barcode(data: &[u8]) {
    let mut input = Input(data);
    if input.u8() % 2 == 0 {
        let frame = VideoFrame {
            width: u32::from(input.u16()),
            height: u32::from(input.u16()),
            data: input.rest().to_vec(),
            capture_time_us: 0,
        };
        let _ = barcode::read_near(&frame, 1_700_000_000_000_000);
        return;
    }
    let width = 2 * (u32::from(input.u8()) + 1);
    let height = 2 * (u32::from(input.u8() % 64) + 1);
    let stamp = Stamp {
        frame_number: input.u32(),
        capture_time_us: 1_700_000_000_000_000 + input.u64() % (1 << 40),
    };
    let pixels = input.rest();
    let mut frame = VideoFrame::black(width, height);
    if !pixels.is_empty() {
        for (i, b) in frame.data.iter_mut().enumerate() {
            *b = pixels[i % pixels.len()];
        }
    }
    let _ = barcode::read_near(&frame, stamp.capture_time_us);
    barcode::draw(&mut frame, stamp);
    let fits = barcode::block_size(width).is_some_and(|b| 3 * b <= height);
    let read = barcode::read_near(&frame, stamp.capture_time_us);
    if fits {
        assert_eq!(read, Some(stamp), "{width}x{height}");
    } else {
        assert_eq!(read, None, "{width}x{height}");
    }
}

/// The TURN server core: any sequence of datagrams and stream frames from
/// a few clients, with time passing, never panics, and every output goes
/// to a client that sent something or to a relay it opened.
///
/// Input: steps of `[who][advance s][len: 2][bytes]`; `who` picks the
/// client and transport, bit 0x80 makes it a datagram from a peer to a
/// relay, bit 0x40 a request the harness signs with valid TURN REST
/// credentials and the last NONCE the server gave (`bytes` are then
/// `[message type: 2][attributes]`), so the fuzzer reaches past the 401.
pub fn turn_server(data: &[u8]) {
    struct Ports(u16);
    impl confer_turn::RelayAllocator for Ports {
        fn open_relay(&mut self) -> Option<SocketAddr> {
            self.0 = self.0.checked_add(1)?;
            Some(SocketAddr::from(([192, 0, 2, 1], self.0)))
        }
    }
    let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let config = confer_turn::Config::new(TURN_SECRET, TURN_REALM, server_ip);
    let start = Instant::now();
    let mut now = start;
    let Ok(mut server) = confer_turn::Server::new(config, now, 1_700_000_000) else {
        panic!("a valid config was refused");
    };
    let mut ports = Ports(50_000);
    let mut input = Input(data);
    let mut relays = std::collections::HashSet::new();
    let mut nonce = Vec::new();
    while !input.is_empty() {
        let who = input.u8();
        now += Duration::from_secs(u64::from(input.u8() % 8) * 100);
        let len = usize::from(input.u16() % 1500);
        let bytes = input.bytes(len);
        // Bits 0-5 pick the 5-tuple (so a signed request can follow the
        // unsigned one that fetched the nonce), bits 6-7 the kind of step.
        let low = who & 0x3f;
        let transport = match low % 3 {
            0 => confer_turn::Transport::Udp,
            1 => confer_turn::Transport::Tcp,
            _ => confer_turn::Transport::Tls,
        };
        let from = confer_turn::FiveTuple {
            client: SocketAddr::from(([198, 51, 100, low >> 2], 40_000)),
            server: SocketAddr::new(server_ip, 3478),
            transport,
        };
        if who & 0x80 != 0 && !relays.is_empty() {
            let relay = *relays.iter().next().expect("not empty");
            server.handle_relayed(relay, SocketAddr::from(([93, 184, 216, 34], 9)), bytes, now);
        } else if who & 0x40 != 0 {
            let unix = 1_700_000_000 + now.duration_since(start).as_secs();
            let signed = signed_request(bytes, &nonce, unix);
            let _ = server.handle_client(from, &signed, now, &mut ports);
        } else {
            let _ = server.handle_client(from, bytes, now, &mut ports);
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        while let Some(output) = server.poll_output() {
            match output {
                confer_turn::Output::ToPeer { relay, .. } => {
                    assert!(relays.contains(&relay), "sent from a relay never opened")
                }
                confer_turn::Output::CloseRelay { relay, .. } => {
                    assert!(relays.remove(&relay) || relay.port() > 50_000);
                }
                confer_turn::Output::ToClient { to, data } => {
                    assert_eq!(to.server.ip(), server_ip);
                    if let Some(n) = stun_attribute(&data, 0x0015) {
                        nonce = n.to_vec();
                    }
                }
            }
        }
        // Relays opened by this step (addresses are handed out in order).
        for port in 50_001..=ports.0 {
            relays.insert(SocketAddr::from(([192, 0, 2, 1], port)));
        }
    }
}

/// The TURN server's shared secret and realm in the `turn_server` target.
const TURN_SECRET: &str = "0123456789abcdef";
const TURN_REALM: &str = "example.org";

/// A STUN request of `bytes[..2]`'s type carrying `bytes[2..]` as its
/// attributes, then USERNAME (TURN REST, valid until the end of
/// `unix_now`'s 10^9-second era), REALM, NONCE and a MESSAGE-INTEGRITY under the long-term key.
fn signed_request(bytes: &[u8], nonce: &[u8], unix_now: u64) -> Vec<u8> {
    let mut input = Input(bytes);
    let kind = input.u16() & 0x3fff;
    let mut m = kind.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[9; 12]);
    m.extend_from_slice(input.rest());
    m.resize(m.len().next_multiple_of(4), 0);
    // One username for the whole run (an allocation keeps its own), valid
    // long past any run's end.
    let username = format!(
        "{}:7:alice",
        unix_now / 1_000_000_000 * 1_000_000_000 + 999_999_999
    );
    let password = confer_turn::rest_password(TURN_SECRET, &username);
    for (kind, value) in [
        (0x0006u16, username.as_bytes()),
        (0x0014, TURN_REALM.as_bytes()),
        (0x0015, nonce),
    ] {
        m.extend_from_slice(&kind.to_be_bytes());
        m.extend_from_slice(&(value.len() as u16).to_be_bytes());
        m.extend_from_slice(value);
        m.resize(m.len().next_multiple_of(4), 0);
    }
    let Ok(with_integrity) = u16::try_from(m.len() + 24 - 20) else {
        return m;
    };
    m[2..4].copy_from_slice(&with_integrity.to_be_bytes());
    let key = confer_turn::long_term_key(&username, TURN_REALM, &password);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_ref()).expect("any key");
    mac.update(&m);
    m.extend_from_slice(&0x0008u16.to_be_bytes());
    m.extend_from_slice(&20u16.to_be_bytes());
    m.extend_from_slice(&mac.finalize().into_bytes());
    m
}

/// The value of the first attribute of `kind` in a STUN message.
fn stun_attribute(message: &[u8], kind: u16) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*message.get(2)?, *message.get(3)?]));
    let body = message.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let k = u16::from_be_bytes([body[at], body[at + 1]]);
        let l = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + l)?;
        if k == kind {
            return Some(value);
        }
        at += 4 + l.next_multiple_of(4);
    }
    None
}

/// The SDK's TURN stream framing: `read_frame` over any byte stream never
/// panics, returns frames that are STUN (20-byte header + length) or
/// ChannelData (4 + length, padding dropped) of at most 64 KiB, and never
/// reads past the stream.
pub fn turn_frame(data: &[u8]) {
    let mut stream = data;
    loop {
        let before = stream.len();
        let result = {
            let future = read_frame(&mut stream);
            let mut future = std::pin::pin!(future);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match future.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(result) => result,
                std::task::Poll::Pending => panic!("a byte slice never blocks"),
            }
        };
        let Ok(frame) = result else {
            return;
        };
        assert!(frame.len() >= 4 && frame.len() <= 4 + 64 * 1024);
        let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
        match frame[0] >> 6 {
            0 => assert_eq!(frame.len(), 20 + len),
            1 => assert_eq!(frame.len(), 4 + len),
            other => panic!("a frame of kind {other}"),
        }
        assert!(before - stream.len() >= frame.len());
        if stream.is_empty() {
            return;
        }
    }
}

/// Reads fuzzer bytes as fields; past the end, zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let head = self.bytes(N);
        out[..head.len()].copy_from_slice(head);
        out
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A length-prefixed (one byte) UTF-8 string, lossy.
    fn string(&mut self) -> String {
        let len = usize::from(self.u8() % 64);
        String::from_utf8_lossy(self.bytes(len)).into_owned()
    }
}
