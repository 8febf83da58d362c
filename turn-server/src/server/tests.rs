//! The core against a fake clock: each test reads as one rule of the RFC or
//! one of Confer's limits. Requests are signed with rtc-stun's own
//! MESSAGE-INTEGRITY, so the server's integrity code is checked against an
//! independent implementation.

use super::*;
use crate::auth::{long_term_key, rest_password};
use proptest::prelude::*;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{TransactionId, CLASS_INDICATION};
use rtc_turn::proto::channum::ChannelNumber;

const SECRET: &str = "0123456789abcdef-secret";
const REALM: &str = "test.confer";
const UNIX_T0: u64 = 1_700_000_000;

struct FakePorts {
    next: u16,
    left: usize,
}

impl RelayAllocator for FakePorts {
    fn open_relay(&mut self) -> Option<SocketAddr> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.next += 1;
        Some(SocketAddr::from(([198, 51, 100, 1], self.next)))
    }
}

struct Harness {
    server: Server,
    now: Instant,
    ports: FakePorts,
}

/// A client's view: its 5-tuple, credentials and the nonce it learnt.
#[derive(Clone)]
struct Client {
    from: FiveTuple,
    username: String,
    password: String,
    nonce: Option<String>,
}

fn config() -> Config {
    Config {
        listen_udp: "198.51.100.1:3478".parse().unwrap(),
        ..Config::new(SECRET, REALM, "198.51.100.1".parse().unwrap())
    }
}

fn client(port: u16, user: &str) -> Client {
    client_on(port, user, Transport::Udp)
}

fn client_on(port: u16, user: &str, transport: Transport) -> Client {
    let username = format!("{}:7:{user}", UNIX_T0 + 3600);
    Client {
        from: FiveTuple {
            client: SocketAddr::from(([203, 0, 113, 50], port)),
            server: "198.51.100.1:3478".parse().unwrap(),
            transport,
        },
        password: rest_password(SECRET, &username),
        username,
        nonce: None,
    }
}

fn peer(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], port))
}

impl Harness {
    fn new(config: Config) -> Harness {
        let t0 = Instant::now();
        Harness {
            server: Server::new(config, t0, UNIX_T0).unwrap(),
            now: t0,
            ports: FakePorts {
                next: 50000,
                left: usize::MAX,
            },
        }
    }

    /// The server's counters now.
    fn stats(&self) -> crate::StatsSnapshot {
        self.server.stats().snapshot()
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.server.handle_timeout(self.now);
    }

    fn input(&mut self, from: FiveTuple, bytes: &[u8]) -> Verdict {
        self.server
            .handle_client(from, bytes, self.now, &mut self.ports)
    }

    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.server.poll_output()).collect()
    }

    /// Sends a request and returns the one response to it.
    fn request(&mut self, client: &Client, bytes: Vec<u8>) -> Message {
        assert_eq!(self.input(client.from, &bytes), Verdict::Accepted);
        let outputs = self.outputs();
        let responses: Vec<Message> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::ToClient { to, data } if *to == client.from => Some(decode(data)),
                _ => None,
            })
            .collect();
        assert_eq!(responses.len(), 1, "one response expected, got {outputs:?}");
        responses.into_iter().next().unwrap()
    }

    /// Runs the challenge if needed and returns the signed request's
    /// response.
    fn signed(
        &mut self,
        client: &mut Client,
        method: Method,
        attrs: Vec<Box<dyn Setter>>,
    ) -> Message {
        if client.nonce.is_none() {
            let challenge = self.request(
                client,
                build(method, TransactionId::new(), Vec::new(), None),
            );
            assert_eq!(error(&challenge), Some(401));
            client.nonce = Some(text(&challenge, ATTR_NONCE));
            assert_eq!(text(&challenge, ATTR_REALM), REALM);
        }
        let bytes = build(method, TransactionId::new(), attrs, Some(client));
        self.request(client, bytes)
    }

    fn allocate(&mut self, client: &mut Client) -> SocketAddr {
        let response = self.signed(client, METHOD_ALLOCATE, udp_transport());
        assert_eq!(
            response.typ.class,
            CLASS_SUCCESS_RESPONSE,
            "{:?}",
            error(&response)
        );
        verify(&response, client);
        let mut relayed = RelayedAddress::default();
        relayed.get_from(&response).unwrap();
        SocketAddr::new(relayed.ip, relayed.port)
    }

    fn permit(&mut self, client: &mut Client, peers: &[SocketAddr]) -> Message {
        let attrs = peers
            .iter()
            .map(|p| {
                Box::new(PeerAddress {
                    ip: p.ip(),
                    port: p.port(),
                }) as Box<dyn Setter>
            })
            .collect();
        self.signed(client, METHOD_CREATE_PERMISSION, attrs)
    }

    fn bind(&mut self, client: &mut Client, number: u16, peer: SocketAddr) -> Message {
        self.signed(
            client,
            METHOD_CHANNEL_BIND,
            vec![
                Box::new(ChannelNumber(number)),
                Box::new(PeerAddress {
                    ip: peer.ip(),
                    port: peer.port(),
                }),
            ],
        )
    }

    fn relay_of(&self, client: &Client) -> SocketAddr {
        self.server.allocations[&client.from].relay
    }
}

use rtc_stun::message::Method;
use test_support::turn::wire::{
    decode, error_code as error, request, send_indication, udp_transport, Signer,
};

/// A request signed (if `client`) with rtc-stun's MessageIntegrity.
fn build(
    method: Method,
    tid: TransactionId,
    attrs: Vec<Box<dyn Setter>>,
    client: Option<&Client>,
) -> Vec<u8> {
    let signer = client.map(|client| Signer {
        username: &client.username,
        realm: REALM,
        password: &client.password,
        nonce: client.nonce.as_deref().unwrap_or_default(),
    });
    request(method, tid, attrs, signer)
}

fn text(m: &Message, attr: AttrType) -> String {
    TextAttribute::get_from_as(m, attr).unwrap().text
}

/// The response carries a MESSAGE-INTEGRITY rtc-stun accepts.
fn verify(m: &Message, client: &Client) {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let key = long_term_key(&client.username, REALM, &client.password);
    let mut m = m.clone();
    MessageIntegrity::check(&mut m, &key, provider.crypto()).unwrap();
}

fn to_peer(outputs: &[Output]) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::ToPeer { relay, peer, data } => Some((*relay, *peer, data.clone())),
            _ => None,
        })
        .collect()
}

fn to_client(outputs: &[Output]) -> Vec<(FiveTuple, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::ToClient { to, data } => Some((*to, data.clone())),
            _ => None,
        })
        .collect()
}

fn closed(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::CloseRelay { .. }))
        .count()
}

#[test]
fn allocate_is_challenged_then_granted_with_the_rest_credentials() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    let relayed = h.allocate(&mut alice);
    assert_eq!(relayed, "198.51.100.1:50001".parse::<SocketAddr>().unwrap());
    let stats = h.stats();
    assert_eq!(stats.challenges, 1);
    assert_eq!(stats.allocations_active, 1);
    assert!(h.server.has_allocation(&alice.from, h.now));
}

#[test]
fn allocation_reports_lifetime_mapped_address_and_external_ip() {
    let mut h = Harness::new(Config {
        external_ip: Some("192.0.2.99".parse().unwrap()),
        ..config()
    });
    let mut alice = client(40000, "alice");
    let response = h.signed(
        &mut alice,
        METHOD_ALLOCATE,
        vec![
            Box::new(RequestedTransport {
                protocol: PROTO_UDP,
            }),
            Box::new(Lifetime(Duration::from_secs(86_400))),
        ],
    );
    let mut lifetime = Lifetime::default();
    lifetime.get_from(&response).unwrap();
    assert_eq!(
        lifetime.0,
        Duration::from_secs(3600),
        "clamped to the maximum"
    );
    let mut relayed = RelayedAddress::default();
    relayed.get_from(&response).unwrap();
    assert_eq!(relayed.ip, "192.0.2.99".parse::<IpAddr>().unwrap());
    let mut mapped = XorMappedAddress::default();
    mapped.get_from(&response).unwrap();
    assert_eq!(SocketAddr::new(mapped.ip, mapped.port), alice.from.client);
}

#[test]
fn wrong_expired_or_malformed_credentials_get_401() {
    let mut h = Harness::new(config());
    let mut wrong = client(40000, "alice");
    wrong.password = "not-the-password".into();
    assert_eq!(
        error(&h.signed(&mut wrong, METHOD_ALLOCATE, udp_transport())),
        Some(401)
    );

    let mut expired = client(40001, "alice");
    expired.username = format!("{}:7:alice", UNIX_T0 - 1);
    expired.password = rest_password(SECRET, &expired.username);
    assert_eq!(
        error(&h.signed(&mut expired, METHOD_ALLOCATE, udp_transport())),
        Some(401)
    );

    let mut no_expiry = client(40002, "alice");
    no_expiry.username = "alice".into();
    no_expiry.password = rest_password(SECRET, "alice");
    assert_eq!(
        error(&h.signed(&mut no_expiry, METHOD_ALLOCATE, udp_transport())),
        Some(401)
    );

    // Valid now, expired an hour later (the wall clock moves with `now`).
    let mut later = client(40003, "alice");
    h.advance(3601);
    assert_eq!(
        error(&h.signed(&mut later, METHOD_ALLOCATE, udp_transport())),
        Some(401)
    );

    let stats = h.stats();
    assert_eq!(stats.refused.unauthorized, 4);
    assert_eq!(stats.allocations_active, 0);
}

#[test]
fn credentials_from_another_secret_or_realm_get_401() {
    let mut h = Harness::new(config());
    let mut other_secret = client(40000, "alice");
    other_secret.password = rest_password("another-secret-of-16+", &other_secret.username);
    assert_eq!(
        error(&h.signed(&mut other_secret, METHOD_ALLOCATE, udp_transport())),
        Some(401)
    );
}

#[test]
fn missing_username_realm_or_nonce_with_integrity_gets_400() {
    let mut h = Harness::new(config());
    let alice = client(40000, "alice");
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    m.build(&[
        Box::new(TransactionId::new()),
        Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
        Box::new(RequestedTransport {
            protocol: PROTO_UDP,
        }),
        Box::new(TextAttribute::new(ATTR_USERNAME, alice.username.clone())),
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            "x".into(),
            provider.crypto(),
        )),
    ])
    .unwrap();
    assert_eq!(error(&h.request(&alice, m.raw)), Some(400));
}

#[test]
fn expired_nonce_gets_438_with_a_fresh_one() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    h.advance(601);
    // The allocation expired too; a new Allocate with the old nonce: 438.
    let response = h.signed(&mut alice, METHOD_ALLOCATE, udp_transport());
    assert_eq!(error(&response), Some(438));
    let fresh = text(&response, ATTR_NONCE);
    assert_ne!(Some(&fresh), alice.nonce.as_ref());
    assert_eq!(text(&response, ATTR_REALM), REALM);
    alice.nonce = Some(fresh);
    h.allocate(&mut alice);
    assert_eq!(h.stats().refused.stale_nonce, 1);
}

#[test]
fn forged_nonce_gets_438() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    alice.nonce = Some("0000000000000000deadbeefdeadbeefdead".into());
    let response = h.signed(&mut alice, METHOD_ALLOCATE, udp_transport());
    assert_eq!(error(&response), Some(438));
}

#[test]
fn allocate_retransmit_gets_the_same_answer_and_a_new_one_gets_437() {
    let mut h = Harness::new(config());
    let mut bob = client(40001, "bob");
    let challenge = h.request(
        &bob,
        build(METHOD_ALLOCATE, TransactionId::new(), udp_transport(), None),
    );
    bob.nonce = Some(text(&challenge, ATTR_NONCE));
    let first = build(
        METHOD_ALLOCATE,
        TransactionId::new(),
        udp_transport(),
        Some(&bob),
    );
    let answer = h.request(&bob, first.clone());
    assert_eq!(answer.typ.class, CLASS_SUCCESS_RESPONSE);
    let again = h.request(&bob, first);
    assert_eq!(again.raw, answer.raw, "a retransmit gets the same success");
    assert_eq!(h.stats().allocations_created, 1);
    let other = build(
        METHOD_ALLOCATE,
        TransactionId::new(),
        udp_transport(),
        Some(&bob),
    );
    assert_eq!(error(&h.request(&bob, other)), Some(437));
}

#[test]
fn requested_transport_must_be_udp() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    let tcp = vec![Box::new(RequestedTransport {
        protocol: rtc_turn::proto::PROTO_TCP,
    }) as Box<dyn Setter>];
    assert_eq!(
        error(&h.signed(&mut alice, METHOD_ALLOCATE, tcp)),
        Some(442)
    );
    assert_eq!(
        error(&h.signed(&mut alice, METHOD_ALLOCATE, Vec::new())),
        Some(400)
    );
    let v6 = vec![
        Box::new(RequestedTransport {
            protocol: PROTO_UDP,
        }) as Box<dyn Setter>,
        Box::new(rtc_turn::proto::reqfamily::REQUESTED_FAMILY_IPV6),
    ];
    assert_eq!(error(&h.signed(&mut alice, METHOD_ALLOCATE, v6)), Some(440));
    let token = vec![
        Box::new(RequestedTransport {
            protocol: PROTO_UDP,
        }) as Box<dyn Setter>,
        Box::new(rtc_turn::proto::rsrvtoken::ReservationToken(vec![1; 8])),
    ];
    assert_eq!(
        error(&h.signed(&mut alice, METHOD_ALLOCATE, token)),
        Some(508)
    );
    assert_eq!(h.stats().allocations_active, 0);
}

#[test]
fn unknown_comprehension_required_attributes_get_420() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    let attrs = vec![
        Box::new(RequestedTransport {
            protocol: PROTO_UDP,
        }) as Box<dyn Setter>,
        Box::new(wire::RawValue(AttrType(0x7001), vec![1, 2, 3, 4])),
    ];
    let response = h.signed(&mut alice, METHOD_ALLOCATE, attrs);
    assert_eq!(error(&response), Some(420));
    assert_eq!(
        response.get(ATTR_UNKNOWN_ATTRIBUTES).unwrap(),
        vec![0x70, 0x01]
    );
}

#[test]
fn per_user_quota_gets_486_and_other_users_are_unaffected() {
    let mut h = Harness::new(Config {
        max_allocations_per_user: 2,
        ..config()
    });
    h.allocate(&mut client(40000, "alice"));
    h.allocate(&mut client(40001, "alice"));
    // Same user with a later expiry: same quota.
    let mut third = client(40002, "alice");
    third.username = format!("{}:7:alice", UNIX_T0 + 7200);
    third.password = rest_password(SECRET, &third.username);
    assert_eq!(
        error(&h.signed(&mut third, METHOD_ALLOCATE, udp_transport())),
        Some(486)
    );
    h.allocate(&mut client(40003, "bob"));
    assert_eq!(h.stats().refused.quota_reached, 1);
    // Releasing one frees the quota.
    let mut first = client(40000, "alice");
    let response = h.signed(
        &mut first,
        METHOD_REFRESH,
        vec![Box::new(Lifetime(Duration::ZERO))],
    );
    assert_eq!(response.typ.class, CLASS_SUCCESS_RESPONSE);
    third.nonce = None;
    h.allocate(&mut third);
}

#[test]
fn total_cap_and_exhausted_relay_ports_get_508() {
    let mut h = Harness::new(Config {
        max_allocations: 2,
        ..config()
    });
    h.allocate(&mut client(40000, "a"));
    h.allocate(&mut client(40001, "b"));
    assert_eq!(
        error(&h.signed(&mut client(40002, "c"), METHOD_ALLOCATE, udp_transport())),
        Some(508)
    );

    let mut h = Harness::new(config());
    h.ports.left = 1;
    h.allocate(&mut client(40000, "a"));
    assert_eq!(
        error(&h.signed(&mut client(40001, "b"), METHOD_ALLOCATE, udp_transport())),
        Some(508)
    );
    assert_eq!(h.stats().refused.insufficient_capacity, 1);
}

#[test]
fn allocations_expire_and_refresh_extends_or_deletes_them() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    assert!(h.server.poll_timeout().is_some());
    h.advance(500);
    let refreshed = h.signed(&mut alice, METHOD_REFRESH, Vec::new());
    assert_eq!(refreshed.typ.class, CLASS_SUCCESS_RESPONSE);
    h.advance(500);
    assert!(
        h.server.has_allocation(&alice.from, h.now),
        "refreshed for 600 s at t=500"
    );
    h.now += Duration::from_secs(101);
    h.server.handle_timeout(h.now);
    let outputs = h.outputs();
    assert_eq!(closed(&outputs), 1, "expired at t=1100");
    assert_eq!(h.stats().allocations_active, 0);
    alice.nonce = None;
    let response = h.signed(&mut alice, METHOD_REFRESH, Vec::new());
    assert_eq!(error(&response), Some(437));

    let mut bob = client(40001, "bob");
    h.allocate(&mut bob);
    let response = h.signed(
        &mut bob,
        METHOD_REFRESH,
        vec![Box::new(Lifetime(Duration::ZERO))],
    );
    let mut lifetime = Lifetime::default();
    lifetime.get_from(&response).unwrap();
    assert_eq!(lifetime.0, Duration::ZERO);
    assert!(!h.server.has_allocation(&bob.from, h.now));
}

#[test]
fn requests_on_an_allocation_need_its_username() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    let mut mallory = client(40000, "mallory");
    let response = h.signed(&mut mallory, METHOD_REFRESH, Vec::new());
    assert_eq!(error(&response), Some(441));
}

#[test]
fn permission_then_send_and_data_indications_relay_both_ways() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    let relay = h.relay_of(&alice);
    let bob = peer(9, 6000);

    // Before any permission: dropped both ways.
    h.input(alice.from, &send_indication(bob, b"early"));
    h.server.handle_relayed(relay, bob, b"early", h.now);
    assert!(h.outputs().is_empty());

    let ok = h.permit(&mut alice, &[bob]);
    assert_eq!(ok.typ.class, CLASS_SUCCESS_RESPONSE);
    verify(&ok, &alice);
    h.input(alice.from, &send_indication(bob, b"hello bob"));
    assert_eq!(
        to_peer(&h.outputs()),
        vec![(relay, bob, b"hello bob".to_vec())]
    );

    // Any port of the permitted IP may answer.
    let bob_other_port = peer(9, 6001);
    h.server
        .handle_relayed(relay, bob_other_port, b"hi alice", h.now);
    let outputs = to_client(&h.outputs());
    assert_eq!(outputs.len(), 1);
    let data = decode(&outputs[0].1);
    assert_eq!(data.typ, MessageType::new(METHOD_DATA, CLASS_INDICATION));
    let mut from = PeerAddress::default();
    from.get_from(&data).unwrap();
    assert_eq!(SocketAddr::new(from.ip, from.port), bob_other_port);
    let mut payload = Data::default();
    payload.get_from(&data).unwrap();
    assert_eq!(payload.0, b"hi alice");

    // Permissions last 300 s.
    h.advance(300);
    h.server.handle_relayed(relay, bob, b"late", h.now);
    h.input(alice.from, &send_indication(bob, b"late"));
    assert!(h.outputs().is_empty());
    let stats = h.stats();
    assert_eq!(stats.to_peer.packets, 1);
    assert_eq!(stats.to_client.packets, 1);
    assert_eq!(stats.dropped_no_permission, 4);
}

#[test]
fn denied_peers_get_403_and_their_indications_are_dropped() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    for denied in [
        "127.0.0.1:5000",
        "10.0.0.1:5000",
        "192.168.1.1:5000",
        "169.254.169.254:80",
        "100.64.0.1:5000",
        "224.0.0.1:5000",
        "255.255.255.255:5000",
        "0.0.0.0:5000",
        "198.51.100.1:50001", // the server's own relay address
    ] {
        let response = h.permit(&mut alice, &[denied.parse().unwrap()]);
        assert_eq!(error(&response), Some(403), "{denied}");
        let bind = h.bind(&mut alice, 0x4000, denied.parse().unwrap());
        assert_eq!(error(&bind), Some(403), "{denied}");
    }
    // One denied peer among allowed ones: the whole request is refused.
    let mixed = h.permit(&mut alice, &[peer(9, 1), "10.1.1.1:1".parse().unwrap()]);
    assert_eq!(error(&mixed), Some(403));
    h.input(
        alice.from,
        &send_indication("10.0.0.1:5000".parse().unwrap(), b"x"),
    );
    assert!(h.outputs().is_empty());
    assert_eq!(h.stats().refused.forbidden, 19);
}

#[test]
fn allowed_networks_open_loopback_but_never_the_listening_socket() {
    let mut h = Harness::new(Config {
        allowed_peer_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..config()
    });
    h.server.add_listen_addr("127.0.0.1:3478".parse().unwrap());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    let ok = h.permit(&mut alice, &["127.0.0.1:5000".parse().unwrap()]);
    assert_eq!(ok.typ.class, CLASS_SUCCESS_RESPONSE);
    let listener = h.permit(&mut alice, &["127.0.0.1:3478".parse().unwrap()]);
    assert_eq!(error(&listener), Some(403));
    // The permission for 127.0.0.1 does not carry Send to the listener.
    h.input(
        alice.from,
        &send_indication("127.0.0.1:3478".parse().unwrap(), b"loop"),
    );
    assert!(h.outputs().is_empty());
}

#[test]
fn permissions_per_allocation_are_capped_with_508() {
    let mut h = Harness::new(Config {
        max_permissions_per_allocation: 2,
        ..config()
    });
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    assert_eq!(
        h.permit(&mut alice, &[peer(1, 1), peer(2, 1)]).typ.class,
        CLASS_SUCCESS_RESPONSE
    );
    assert_eq!(error(&h.permit(&mut alice, &[peer(3, 1)])), Some(508));
    // Refreshing existing ones is fine.
    assert_eq!(
        h.permit(&mut alice, &[peer(2, 9)]).typ.class,
        CLASS_SUCCESS_RESPONSE
    );
}

#[test]
fn channels_relay_both_ways_and_expire() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    let relay = h.relay_of(&alice);
    let bob = peer(9, 6000);
    let response = h.bind(&mut alice, 0x4001, bob);
    assert_eq!(response.typ.class, CLASS_SUCCESS_RESPONSE);
    verify(&response, &alice);

    h.input(
        alice.from,
        &wire::channel_data(0x4001, b"via channel", false).unwrap(),
    );
    assert_eq!(
        to_peer(&h.outputs()),
        vec![(relay, bob, b"via channel".to_vec())]
    );
    h.server.handle_relayed(relay, bob, b"back", h.now);
    let back = to_client(&h.outputs());
    assert_eq!(
        back[0].1,
        wire::channel_data(0x4001, b"back", false).unwrap()
    );
    // Another port of bob's IP has a permission but no channel: Data indication.
    h.server
        .handle_relayed(relay, peer(9, 6001), b"side", h.now);
    let side = to_client(&h.outputs());
    assert_eq!(decode(&side[0].1).typ.method, METHOD_DATA);

    // An unbound channel number is dropped.
    h.input(
        alice.from,
        &wire::channel_data(0x4002, b"nobody", false).unwrap(),
    );
    assert!(h.outputs().is_empty());

    // Refresh the allocation and permission but not the channel: the
    // channel ends at 600 s.
    h.advance(200);
    h.permit(&mut alice, &[bob]);
    h.advance(200);
    h.permit(&mut alice, &[bob]);
    h.signed(&mut alice, METHOD_REFRESH, Vec::new());
    h.advance(201);
    h.input(
        alice.from,
        &wire::channel_data(0x4001, b"late", false).unwrap(),
    );
    assert!(to_peer(&h.outputs()).is_empty());
    h.server.handle_relayed(relay, bob, b"late", h.now);
    let late = to_client(&h.outputs());
    assert_eq!(
        decode(&late[0].1).typ.method,
        METHOD_DATA,
        "falls back to a Data indication"
    );
}

#[test]
fn channel_bind_rules() {
    let mut h = Harness::new(Config {
        max_channels_per_allocation: 2,
        ..config()
    });
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    assert_eq!(error(&h.bind(&mut alice, 0x3FFF, peer(1, 1))), Some(400));
    assert_eq!(error(&h.bind(&mut alice, 0x8000, peer(1, 1))), Some(400));
    assert_eq!(
        h.bind(&mut alice, 0x4000, peer(1, 1)).typ.class,
        CLASS_SUCCESS_RESPONSE
    );
    assert_eq!(
        h.bind(&mut alice, 0x4000, peer(1, 1)).typ.class,
        CLASS_SUCCESS_RESPONSE
    );
    assert_eq!(error(&h.bind(&mut alice, 0x4000, peer(2, 1))), Some(400));
    assert_eq!(error(&h.bind(&mut alice, 0x4001, peer(1, 1))), Some(400));
    assert_eq!(
        h.bind(&mut alice, 0x7FFF, peer(2, 1)).typ.class,
        CLASS_SUCCESS_RESPONSE
    );
    assert_eq!(error(&h.bind(&mut alice, 0x4002, peer(3, 1))), Some(508));
    let missing_peer = h.signed(
        &mut alice,
        METHOD_CHANNEL_BIND,
        vec![Box::new(ChannelNumber(0x4005))],
    );
    assert_eq!(error(&missing_peer), Some(400));
}

#[test]
fn no_allocation_means_437() {
    let mut h = Harness::new(config());
    let mut alice = client(40000, "alice");
    assert_eq!(error(&h.permit(&mut alice, &[peer(1, 1)])), Some(437));
    assert_eq!(error(&h.bind(&mut alice, 0x4000, peer(1, 1))), Some(437));
    assert_eq!(
        error(&h.signed(&mut alice, METHOD_REFRESH, Vec::new())),
        Some(437)
    );
}

#[test]
fn bandwidth_cap_drops_and_counts_the_excess() {
    let mut h = Harness::new(Config {
        bandwidth_bytes_per_sec: 1000,
        ..config()
    });
    let mut alice = client(40000, "alice");
    h.allocate(&mut alice);
    let relay = h.relay_of(&alice);
    let bob = peer(9, 6000);
    h.bind(&mut alice, 0x4000, bob);
    let packet = wire::channel_data(0x4000, &[0u8; 600], false).unwrap();
    h.input(alice.from, &packet);
    h.input(alice.from, &packet);
    assert_eq!(to_peer(&h.outputs()).len(), 1);
    // The other direction has its own bucket.
    h.server.handle_relayed(relay, bob, &[0u8; 600], h.now);
    h.server.handle_relayed(relay, bob, &[0u8; 600], h.now);
    assert_eq!(to_client(&h.outputs()).len(), 1);
    assert_eq!(h.stats().dropped_bandwidth, 2);
    // A second later the bucket has refilled.
    h.now += Duration::from_secs(1);
    h.input(alice.from, &packet);
    assert_eq!(to_peer(&h.outputs()).len(), 1);
}

#[test]
fn stream_clients_get_padded_channel_data_and_lose_the_allocation_on_close() {
    let mut h = Harness::new(config());
    let mut alice = client_on(40000, "alice", Transport::Tcp);
    h.allocate(&mut alice);
    let relay = h.relay_of(&alice);
    let bob = peer(9, 6000);
    h.bind(&mut alice, 0x4000, bob);
    h.server.handle_relayed(relay, bob, b"abcde", h.now);
    let out = to_client(&h.outputs());
    assert_eq!(out[0].1.len(), 12, "4 header + 5 data + 3 padding");
    h.input(
        alice.from,
        &wire::channel_data(0x4000, b"abcde", true).unwrap(),
    );
    assert_eq!(to_peer(&h.outputs())[0].2, b"abcde");
    h.server.close_client(&alice.from);
    assert_eq!(closed(&h.outputs()), 1);
    assert_eq!(h.stats().allocations_active, 0);
}

#[test]
fn binding_requests_are_answered_without_credentials() {
    let mut h = Harness::new(config());
    let alice = client(40000, "alice");
    let response = h.request(
        &alice,
        build(METHOD_BINDING, TransactionId::new(), Vec::new(), None),
    );
    let mut mapped = XorMappedAddress::default();
    mapped.get_from(&response).unwrap();
    assert_eq!(SocketAddr::new(mapped.ip, mapped.port), alice.from.client);
    FINGERPRINT.check(&response).unwrap();
}

#[test]
fn garbage_is_dropped_counted_and_never_answered() {
    let mut h = Harness::new(config());
    let alice = client(40000, "alice");
    let valid = build(METHOD_BINDING, TransactionId::new(), Vec::new(), None);
    let mut huge_length = valid.clone();
    huge_length[2] = 0xFF;
    huge_length[3] = 0xF0;
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xFF; 100],
        valid[..valid.len() - 3].to_vec(),
        huge_length,
        vec![0x40, 0x00, 0xFF, 0xFF, 1, 2],
        vec![0, 1, 0, 0, 0, 0, 0, 0],
    ];
    for input in &inputs {
        assert_eq!(h.input(alice.from, input), Verdict::Malformed);
    }
    assert!(h.outputs().is_empty());
    assert_eq!(h.stats().malformed, inputs.len() as u64);
    // Relay input for unknown relays is ignored.
    h.server
        .handle_relayed("1.2.3.4:5".parse().unwrap(), peer(1, 1), b"x", h.now);
    assert!(h.outputs().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut h = Harness::new(config());
        let alice = client(40000, "alice");
        let _ = h.input(alice.from, &bytes);
        let relay = "198.51.100.1:50001".parse().unwrap();
        h.server.handle_relayed(relay, peer(1, 1), &bytes, h.now);
        let _ = crate::wire::stream_frame(&bytes);
        let _ = h.outputs();
    }

    /// Mutations of real, authenticated requests reach deeper than random
    /// bytes: the decoders of every attribute see hostile values.
    #[test]
    fn mutated_requests_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        truncate in any::<usize>(),
        which in 0usize..4,
    ) {
        let mut h = Harness::new(Config {
            allowed_peer_networks: vec!["0.0.0.0/0".parse().unwrap()],
            ..config()
        });
        let mut alice = client(40000, "alice");
        h.allocate(&mut alice);
        let attrs: Vec<Box<dyn Setter>> = match which {
            0 => udp_transport(),
            1 => vec![Box::new(PeerAddress { ip: peer(1, 1).ip(), port: 1 })],
            2 => vec![Box::new(ChannelNumber(0x4000)), Box::new(PeerAddress { ip: peer(1, 1).ip(), port: 1 })],
            _ => vec![Box::new(Lifetime(Duration::from_secs(60)))],
        };
        let method = [METHOD_ALLOCATE, METHOD_CREATE_PERMISSION, METHOD_CHANNEL_BIND, METHOD_REFRESH][which];
        let mut bytes = build(method, TransactionId::new(), attrs, Some(&alice));
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] ^= value;
        }
        bytes.truncate(truncate % (bytes.len() + 1));
        let _ = h.input(alice.from, &bytes);
        let _ = h.outputs();
        let send = send_indication(peer(1, 1), b"data");
        let _ = h.input(alice.from, &send);
    }
}
