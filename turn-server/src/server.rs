//! The sans-IO TURN server: every input comes in with the time, every
//! effect goes out through [`Server::poll_output`]. No sockets, no clock,
//! no tasks; the tokio shell in [`crate::io`] drives it, and tests drive it
//! with a fake clock.
//!
//! ```
//! use confer_turn::{Config, FiveTuple, Output, RelayAllocator, Server, Transport};
//! use std::net::SocketAddr;
//! use std::time::Instant;
//!
//! struct Ports(u16);
//! impl RelayAllocator for Ports {
//!     fn open_relay(&mut self) -> Option<SocketAddr> {
//!         self.0 += 1;
//!         Some(SocketAddr::from(([192, 0, 2, 1], self.0)))
//!     }
//! }
//!
//! let config = Config::new("0123456789abcdef", "example.org", "192.0.2.1".parse().unwrap());
//! let mut server = Server::new(config, Instant::now(), 1_700_000_000).unwrap();
//! let from = FiveTuple {
//!     client: "198.51.100.7:40000".parse().unwrap(),
//!     server: "192.0.2.1:3478".parse().unwrap(),
//!     transport: Transport::Udp,
//! };
//! // Garbage is dropped and counted, never answered.
//! server.handle_client(from, b"\xff garbage", Instant::now(), &mut Ports(50000));
//! assert!(server.poll_output().is_none());
//! assert_eq!(server.stats().snapshot().malformed, 1);
//! ```

use crate::allocation::{Allocation, BindError, NewAllocation};
use crate::auth::{credential_key, IntegrityKey, NonceCheck, Nonces};
use crate::config::{Config, ConfigError};
use crate::peer_policy::PeerPolicy;
use crate::stats::{add, bump, Refusal, Stats};
use crate::wire;
use rtc_stun::attributes::{
    AttrType, ATTR_DATA, ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM,
    ATTR_REQUESTED_ADDRESS_FAMILY, ATTR_RESERVATION_TOKEN, ATTR_UNKNOWN_ATTRIBUTES, ATTR_USERNAME,
    ATTR_XOR_PEER_ADDRESS,
};
use rtc_stun::message::{
    Getter, Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST,
    CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_BINDING, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_DATA, METHOD_REFRESH, METHOD_SEND,
};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use rtc_turn::proto::channum::ChannelNumber;
use rtc_turn::proto::data::Data;
use rtc_turn::proto::lifetime::Lifetime;
use rtc_turn::proto::peeraddr::PeerAddress;
use rtc_turn::proto::relayaddr::RelayedAddress;
use rtc_turn::proto::reqtrans::RequestedTransport;
use rtc_turn::proto::PROTO_UDP;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The transport between a client and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Whether messages ride a byte stream (ChannelData padded to 4 bytes).
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// What identifies an allocation: client address, server address and
/// transport (RFC 8656 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// The client's address as the server sees it.
    pub client: SocketAddr,
    /// The server's listening address the client talks to.
    pub server: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

/// Something the IO layer must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `data` to the client of `to` over its transport (a UDP
    /// datagram, or bytes on its TCP/TLS connection).
    ToClient {
        /// Whom to send to and how.
        to: FiveTuple,
        /// A STUN message or ChannelData.
        data: Vec<u8>,
    },
    /// Send `data` as one UDP datagram from relay socket `relay` to `peer`.
    ToPeer {
        /// The relay socket's local address, as returned by
        /// [`RelayAllocator::open_relay`].
        relay: SocketAddr,
        /// The peer.
        peer: SocketAddr,
        /// The payload.
        data: Vec<u8>,
    },
    /// The allocation on `five_tuple` ended (expired, deleted, client gone):
    /// close relay socket `relay`.
    CloseRelay {
        /// The relay socket to close.
        relay: SocketAddr,
        /// The allocation's 5-tuple.
        five_tuple: FiveTuple,
    },
}

/// Opens relay sockets for the core (the IO layer binds real UDP sockets,
/// tests hand out fake addresses).
pub trait RelayAllocator {
    /// Opens a relay socket and returns its local address, or `None` when
    /// no port is free (the Allocate gets 508). The core answers with
    /// [`Output::CloseRelay`] for every address it got, once done with it.
    fn open_relay(&mut self) -> Option<SocketAddr>;
}

/// What became of one client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A well-formed message (answered, relayed or dropped by policy).
    Accepted,
    /// Neither STUN nor ChannelData, or malformed: dropped and counted. A
    /// stream transport should close the connection.
    Malformed,
}

/// The TURN server state machine.
pub struct Server {
    config: Config,
    nonces: Nonces,
    policy: PeerPolicy,
    allocations: HashMap<FiveTuple, Allocation>,
    by_relay: HashMap<SocketAddr, FiveTuple>,
    per_user: HashMap<String, u32>,
    outputs: VecDeque<Output>,
    stats: Arc<Stats>,
    wall_anchor: (Instant, u64),
    next_timeout: Option<Instant>,
    last_sweep: Instant,
}

/// Sweeps for expired state run at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Comprehension-required attributes (< 0x8000) the server understands or
/// safely ignores; any other one in a request gets 420.
const KNOWN_ATTRIBUTES: [u16; 22] = [
    0x0001, // MAPPED-ADDRESS
    0x0006, // USERNAME
    0x0008, // MESSAGE-INTEGRITY
    0x0009, // ERROR-CODE
    0x000A, // UNKNOWN-ATTRIBUTES
    0x000C, // CHANNEL-NUMBER
    0x000D, // LIFETIME
    0x0010, // BANDWIDTH (old drafts; ignored)
    0x0012, // XOR-PEER-ADDRESS
    0x0013, // DATA
    0x0014, // REALM
    0x0015, // NONCE
    0x0016, // XOR-RELAYED-ADDRESS
    0x0017, // REQUESTED-ADDRESS-FAMILY
    0x0018, // EVEN-PORT (accepted; parity not guaranteed)
    0x0019, // REQUESTED-TRANSPORT
    0x001A, // DONT-FRAGMENT (accepted; the OS default applies)
    0x0020, // XOR-MAPPED-ADDRESS
    0x0022, // RESERVATION-TOKEN (refused with 508)
    0x0024, // PRIORITY
    0x0025, // USE-CANDIDATE
    0x0003, // CHANGE-REQUEST
];

/// An authenticated request's credentials.
struct Auth {
    username: String,
    user: String,
    key: IntegrityKey,
}

impl Server {
    /// A server with `config` (validated here), its wall clock anchored at
    /// `unix_secs` = `now`.
    pub fn new(config: Config, now: Instant, unix_secs: u64) -> Result<Server, ConfigError> {
        config.validate()?;
        let mut policy = PeerPolicy::new(
            config.allowed_peer_networks.clone(),
            config.denied_peer_networks.clone(),
        );
        policy.add_own_ip(config.relay_ip);
        if let Some(external) = config.external_ip {
            policy.add_own_ip(external);
        }
        for listen in [
            Some(config.listen_udp),
            config.listen_tcp,
            config.listen_tls,
        ]
        .into_iter()
        .flatten()
        {
            policy.add_own_ip(listen.ip());
        }
        let nonces = Nonces::new(rand::random(), u64::from(config.nonce_lifetime_secs));
        Ok(Server {
            config,
            nonces,
            policy,
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            outputs: VecDeque::new(),
            stats: Arc::new(Stats::default()),
            wall_anchor: (now, unix_secs),
            next_timeout: None,
            last_sweep: now,
        })
    }

    /// Re-anchors the wall clock (credential expiry is wall-clock time):
    /// `unix_secs` is the Unix time at `now`. The IO layer calls this every
    /// second so a stepped system clock is followed.
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: u64) {
        self.wall_anchor = (now, unix_secs);
    }

    /// Records a listening socket's real address (after binding port 0):
    /// never a valid peer.
    pub fn add_listen_addr(&mut self, addr: SocketAddr) {
        self.policy.add_own_socket(addr);
    }

    /// The live counters (shareable with other threads).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the 5-tuple holds a live allocation.
    pub fn has_allocation(&self, five_tuple: &FiveTuple, now: Instant) -> bool {
        self.allocations
            .get(five_tuple)
            .is_some_and(|a| a.is_alive(now))
    }

    /// Allocations held (live or expired but not yet swept).
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Input from a client: a UDP datagram, or one framed message from a
    /// TCP/TLS connection (see [`crate::stream_frame`]).
    pub fn handle_client(
        &mut self,
        from: FiveTuple,
        bytes: &[u8],
        now: Instant,
        relays: &mut dyn RelayAllocator,
    ) -> Verdict {
        let verdict = match bytes.first().map(|b| b >> 6) {
            Some(0) => match wire::decode(bytes) {
                Some(message) => self.handle_stun(from, &message, now, relays),
                None => Verdict::Malformed,
            },
            Some(1) => match wire::parse_channel_data(bytes) {
                Some((number, data)) => {
                    self.handle_channel_data(from, number, data, now);
                    Verdict::Accepted
                }
                None => Verdict::Malformed,
            },
            _ => Verdict::Malformed,
        };
        if verdict == Verdict::Malformed {
            bump(&self.stats.malformed);
        }
        verdict
    }

    /// A datagram that arrived on relay socket `relay` from `peer`.
    pub fn handle_relayed(
        &mut self,
        relay: SocketAddr,
        peer: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        let Some(five_tuple) = self.by_relay.get(&relay).copied() else {
            return;
        };
        let Some(allocation) = self.allocations.get_mut(&five_tuple) else {
            return;
        };
        if !allocation.is_alive(now) || !allocation.has_permission(peer.ip(), now) {
            bump(&self.stats.dropped_no_permission);
            return;
        }
        if !crate::allocation::within(&mut allocation.to_client, bytes.len(), now) {
            bump(&self.stats.dropped_bandwidth);
            return;
        }
        let data = match allocation.peer_channel(peer, now) {
            Some(number) => wire::channel_data(number, bytes, five_tuple.transport.is_stream()),
            None => wire::indication(
                MessageType::new(METHOD_DATA, CLASS_INDICATION),
                vec![
                    Box::new(PeerAddress {
                        ip: peer.ip(),
                        port: peer.port(),
                    }),
                    Box::new(Data(bytes.to_vec())),
                ],
            ),
        };
        let Some(data) = data else {
            return;
        };
        bump(&self.stats.to_client_packets);
        add(&self.stats.to_client_bytes, bytes.len() as u64);
        self.outputs.push_back(Output::ToClient {
            to: five_tuple,
            data,
        });
    }

    /// The client's TCP/TLS connection closed: its allocation goes with it
    /// (RFC 8656 §3.1).
    pub fn close_client(&mut self, five_tuple: &FiveTuple) {
        self.remove_allocation(five_tuple);
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Server::handle_timeout`] should run next (`None`: nothing
    /// will expire).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
            .map(|t| t.max(self.last_sweep + SWEEP_INTERVAL))
    }

    /// Expires allocations, permissions and channels due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_sweep = now;
        let expired: Vec<FiveTuple> = self
            .allocations
            .iter()
            .filter(|(_, a)| !a.is_alive(now))
            .map(|(ft, _)| *ft)
            .collect();
        for five_tuple in expired {
            self.remove_allocation(&five_tuple);
        }
        self.next_timeout = self.allocations.values_mut().map(|a| a.expire(now)).min();
    }

    fn unix_now(&self, now: Instant) -> u64 {
        let (anchor, unix) = self.wall_anchor;
        if now >= anchor {
            unix.saturating_add(now.duration_since(anchor).as_secs())
        } else {
            unix.saturating_sub(anchor.duration_since(now).as_secs())
        }
    }

    fn schedule(&mut self, at: Instant) {
        self.next_timeout = Some(self.next_timeout.map_or(at, |t| t.min(at)));
    }

    fn handle_stun(
        &mut self,
        from: FiveTuple,
        message: &Message,
        now: Instant,
        relays: &mut dyn RelayAllocator,
    ) -> Verdict {
        match message.typ.class {
            CLASS_REQUEST => {
                self.handle_request(from, message, now, relays);
                Verdict::Accepted
            }
            CLASS_INDICATION if message.typ.method == METHOD_SEND => {
                self.handle_send(from, message, now)
            }
            // Other indications and any response: nothing to do.
            _ => Verdict::Accepted,
        }
    }

    fn handle_request(
        &mut self,
        from: FiveTuple,
        request: &Message,
        now: Instant,
        relays: &mut dyn RelayAllocator,
    ) {
        let method = request.typ.method;
        if method == METHOD_BINDING {
            let mapped = XorMappedAddress {
                ip: from.client.ip(),
                port: from.client.port(),
            };
            self.reply(
                from,
                request,
                CLASS_SUCCESS_RESPONSE,
                vec![Box::new(mapped)],
                None,
            );
            return;
        }
        let turn_methods = [
            METHOD_ALLOCATE,
            METHOD_REFRESH,
            METHOD_CREATE_PERMISSION,
            METHOD_CHANNEL_BIND,
        ];
        if !turn_methods.contains(&method) {
            self.refuse(from, request, Refusal::BadRequest, None);
            return;
        }
        let unknown: Vec<AttrType> = request
            .attributes
            .0
            .iter()
            .map(|a| a.typ)
            .filter(|t| t.value() < 0x8000 && !KNOWN_ATTRIBUTES.contains(&t.value()))
            .collect();
        if !unknown.is_empty() {
            let list: Vec<u8> = unknown
                .iter()
                .flat_map(|t| t.value().to_be_bytes())
                .collect();
            self.stats.refused(Refusal::UnknownAttribute);
            self.reply(
                from,
                request,
                CLASS_ERROR_RESPONSE,
                vec![
                    Box::new(wire::error_code(420)),
                    Box::new(wire::RawValue(ATTR_UNKNOWN_ATTRIBUTES, list)),
                ],
                None,
            );
            return;
        }
        if method == METHOD_ALLOCATE {
            if let Some(allocation) = self.allocations.get(&from) {
                if allocation.is_alive(now) && allocation.allocate_tid == request.transaction_id {
                    let data = allocation.allocate_response.clone();
                    self.outputs.push_back(Output::ToClient { to: from, data });
                    return;
                }
            }
        }
        let Some(auth) = self.authenticate(from, request, now) else {
            return;
        };
        if method == METHOD_ALLOCATE {
            self.handle_allocate(from, request, &auth, now, relays);
            return;
        }
        // The other methods act on an existing allocation made by the same
        // user.
        if !self.has_allocation(&from, now) {
            self.remove_allocation(&from);
            self.refuse(from, request, Refusal::AllocationMismatch, Some(&auth.key));
            return;
        }
        if self
            .allocations
            .get(&from)
            .is_some_and(|a| a.username != auth.username)
        {
            self.refuse(from, request, Refusal::WrongCredentials, Some(&auth.key));
            return;
        }
        if method == METHOD_REFRESH {
            self.handle_refresh(from, request, &auth, now);
        } else {
            self.handle_peers(from, request, &auth, now);
        }
    }

    /// Checks the long-term credentials of `request`; on failure the error
    /// response is queued and `None` returned.
    fn authenticate(&mut self, from: FiveTuple, request: &Message, now: Instant) -> Option<Auth> {
        let unix_now = self.unix_now(now);
        if !request.contains(ATTR_MESSAGE_INTEGRITY) {
            bump(&self.stats.challenges);
            self.challenge(from, request, 401, unix_now);
            return None;
        }
        let text = |attr| {
            TextAttribute::get_from_as(request, attr)
                .ok()
                .map(|t| t.text)
        };
        let (Some(username), Some(realm), Some(nonce)) =
            (text(ATTR_USERNAME), text(ATTR_REALM), text(ATTR_NONCE))
        else {
            self.refuse(from, request, Refusal::BadRequest, None);
            return None;
        };
        if self.nonces.check(&nonce, from.client, unix_now) == NonceCheck::Stale {
            self.stats.refused(Refusal::StaleNonce);
            self.challenge(from, request, 438, unix_now);
            return None;
        }
        let key = match credential_key(&self.config.secret, &self.config.realm, &username, unix_now)
        {
            Ok((parsed, key)) if realm == self.config.realm => (parsed.user.to_owned(), key),
            _ => {
                self.stats.refused(Refusal::Unauthorized);
                self.challenge(from, request, 401, unix_now);
                return None;
            }
        };
        if !wire::integrity_ok(request, &key.1) {
            self.stats.refused(Refusal::Unauthorized);
            self.challenge(from, request, 401, unix_now);
            return None;
        }
        Some(Auth {
            username,
            user: key.0,
            key: key.1,
        })
    }

    fn challenge(&mut self, from: FiveTuple, request: &Message, code: u16, unix_now: u64) {
        let nonce = self.nonces.issue(from.client, unix_now);
        let realm = self.config.realm.clone();
        self.reply(
            from,
            request,
            CLASS_ERROR_RESPONSE,
            vec![
                Box::new(wire::error_code(code)),
                Box::new(TextAttribute::new(ATTR_REALM, realm)),
                Box::new(TextAttribute::new(ATTR_NONCE, nonce)),
            ],
            None,
        );
    }

    fn handle_allocate(
        &mut self,
        from: FiveTuple,
        request: &Message,
        auth: &Auth,
        now: Instant,
        relays: &mut dyn RelayAllocator,
    ) {
        let key = Some(&auth.key);
        if self.has_allocation(&from, now) {
            self.refuse(from, request, Refusal::AllocationMismatch, key);
            return;
        }
        // An expired allocation not yet swept makes room for the new one.
        self.remove_allocation(&from);
        let mut transport = RequestedTransport::default();
        if transport.get_from(request).is_err() {
            self.refuse(from, request, Refusal::BadRequest, key);
            return;
        }
        if transport.protocol != PROTO_UDP {
            self.refuse(from, request, Refusal::UnsupportedTransport, key);
            return;
        }
        if request.contains(ATTR_RESERVATION_TOKEN) {
            self.refuse(from, request, Refusal::InsufficientCapacity, key);
            return;
        }
        let relay_is_v4 = self
            .config
            .external_ip
            .unwrap_or(self.config.relay_ip)
            .is_ipv4();
        if let Ok(family) = request.get(ATTR_REQUESTED_ADDRESS_FAMILY) {
            let wants_v4 = match family.first() {
                Some(1) if family.len() == 4 => true,
                Some(2) if family.len() == 4 => false,
                _ => {
                    self.refuse(from, request, Refusal::BadRequest, key);
                    return;
                }
            };
            if wants_v4 != relay_is_v4 {
                self.refuse(from, request, Refusal::AddressFamily, key);
                return;
            }
        }
        let held = self.per_user.get(&auth.user).copied().unwrap_or(0);
        if held >= self.config.max_allocations_per_user {
            self.refuse(from, request, Refusal::QuotaReached, key);
            return;
        }
        if self.allocations.len() >= self.config.max_allocations as usize {
            self.refuse(from, request, Refusal::InsufficientCapacity, key);
            return;
        }
        let Some(lifetime) = self.requested_lifetime(request) else {
            self.refuse(from, request, Refusal::BadRequest, key);
            return;
        };
        let Some(relay) = relays.open_relay() else {
            self.refuse(from, request, Refusal::InsufficientCapacity, key);
            return;
        };
        let relayed = SocketAddr::new(self.config.external_ip.unwrap_or(relay.ip()), relay.port());
        let mut allocation = Allocation::new(
            NewAllocation {
                relay,
                relayed,
                username: auth.username.clone(),
                user: auth.user.clone(),
                lifetime,
                allocate_tid: request.transaction_id,
                bandwidth: self.config.bandwidth_bytes_per_sec,
            },
            now,
        );
        let response = wire::response(
            request,
            CLASS_SUCCESS_RESPONSE,
            vec![
                Box::new(RelayedAddress {
                    ip: relayed.ip(),
                    port: relayed.port(),
                }),
                Box::new(Lifetime(lifetime)),
                Box::new(XorMappedAddress {
                    ip: from.client.ip(),
                    port: from.client.port(),
                }),
            ],
            key,
        );
        let Some(response) = response else {
            self.outputs.push_back(Output::CloseRelay {
                relay,
                five_tuple: from,
            });
            return;
        };
        allocation.allocate_response = response.clone();
        self.schedule(allocation.expires);
        self.allocations.insert(from, allocation);
        self.by_relay.insert(relay, from);
        *self.per_user.entry(auth.user.clone()).or_insert(0) += 1;
        bump(&self.stats.allocations_created);
        bump(&self.stats.allocations_active);
        tracing::debug!(client = %from.client, %relayed, user = %auth.user, "allocation created");
        self.outputs.push_back(Output::ToClient {
            to: from,
            data: response,
        });
    }

    /// The lifetime to grant: the default when absent, else the request
    /// clamped to [default, max] (RFC 8656 §7.2); `Some(ZERO)` for 0;
    /// `None` if the attribute is malformed.
    fn requested_lifetime(&self, request: &Message) -> Option<Duration> {
        let default = Duration::from_secs(u64::from(self.config.default_lifetime_secs));
        let max = Duration::from_secs(u64::from(self.config.max_lifetime_secs));
        if !request.contains(rtc_stun::attributes::ATTR_LIFETIME) {
            return Some(default);
        }
        let mut lifetime = Lifetime::default();
        lifetime.get_from(request).ok()?;
        if lifetime.0.is_zero() {
            return Some(Duration::ZERO);
        }
        Some(lifetime.0.clamp(default, max))
    }

    fn handle_refresh(&mut self, from: FiveTuple, request: &Message, auth: &Auth, now: Instant) {
        let key = Some(&auth.key);
        let Some(lifetime) = self.requested_lifetime(request) else {
            self.refuse(from, request, Refusal::BadRequest, key);
            return;
        };
        if let Ok(family) = request.get(ATTR_REQUESTED_ADDRESS_FAMILY) {
            let relay_v4 = self
                .allocations
                .get(&from)
                .is_some_and(|a| a.relayed.is_ipv4());
            let wants_v4 = family.first() == Some(&1);
            if wants_v4 != relay_v4 {
                self.stats.refused(Refusal::AddressFamily);
                self.reply_error(from, request, 443, key);
                return;
            }
        }
        if lifetime.is_zero() {
            self.remove_allocation(&from);
        } else if let Some(allocation) = self.allocations.get_mut(&from) {
            allocation.expires = now + lifetime;
            let expires = allocation.expires;
            self.schedule(expires);
        }
        self.reply(
            from,
            request,
            CLASS_SUCCESS_RESPONSE,
            vec![Box::new(Lifetime(lifetime))],
            key,
        );
    }

    /// Every XOR-PEER-ADDRESS of `request`, or `None` if one is malformed.
    fn peer_addresses(request: &Message) -> Option<Vec<SocketAddr>> {
        request
            .attributes
            .0
            .iter()
            .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
            .map(|a| wire::xor_address(&a.value, &request.transaction_id))
            .collect()
    }

    /// Refuses (and returns `false`) unless every peer has the relay's
    /// address family and passes the peer policy.
    fn check_peers(
        &mut self,
        from: FiveTuple,
        request: &Message,
        peers: &[SocketAddr],
        key: Option<&IntegrityKey>,
    ) -> bool {
        let relay_v4 = self
            .allocations
            .get(&from)
            .is_some_and(|a| a.relayed.is_ipv4());
        let canonical = |p: &SocketAddr| crate::peer_policy::canonical_ip(p.ip()).is_ipv4();
        if peers.iter().any(|p| canonical(p) != relay_v4) {
            self.stats.refused(Refusal::AddressFamily);
            self.reply_error(from, request, 443, key);
            return false;
        }
        if let Some(denied) = peers.iter().find(|p| !self.policy.permits(**p)) {
            tracing::debug!(client = %from.client, peer = %denied, "peer denied by policy");
            self.refuse(from, request, Refusal::Forbidden, key);
            return false;
        }
        true
    }

    /// CreatePermission (one or more peers) and ChannelBind (one peer and
    /// a channel number): both install permissions for their peers, and
    /// ChannelBind binds the channel too.
    fn handle_peers(&mut self, from: FiveTuple, request: &Message, auth: &Auth, now: Instant) {
        let key = Some(&auth.key);
        let bind = request.typ.method == METHOD_CHANNEL_BIND;
        let mut number = ChannelNumber::default();
        let peers = Self::peer_addresses(request).filter(|peers| match peers.as_slice() {
            [_] if bind => number.get_from(request).is_ok() && number.valid(),
            _ => !bind && !peers.is_empty(),
        });
        let Some(peers) = peers else {
            self.refuse(from, request, Refusal::BadRequest, key);
            return;
        };
        if !self.check_peers(from, request, &peers, key) {
            return;
        }
        let max_permissions = self.config.max_permissions_per_allocation as usize;
        let max_channels = self.config.max_channels_per_allocation as usize;
        // handle_request checked that the allocation exists.
        let Some(allocation) = self.allocations.get_mut(&from) else {
            return;
        };
        let ips: Vec<IpAddr> = peers.iter().map(|p| p.ip()).collect();
        let result = if !allocation.permit(&ips, max_permissions, now) {
            Err(Refusal::InsufficientCapacity)
        } else if bind {
            allocation
                .bind_channel(number.0, peers[0], max_channels, now)
                .map_err(|e| match e {
                    BindError::Conflict => Refusal::BadRequest,
                    BindError::Full => Refusal::InsufficientCapacity,
                })
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                self.schedule(now + crate::allocation::PERMISSION_LIFETIME);
                self.reply(from, request, CLASS_SUCCESS_RESPONSE, Vec::new(), key);
            }
            Err(refusal) => self.refuse(from, request, refusal, key),
        }
    }

    fn handle_send(&mut self, from: FiveTuple, message: &Message, now: Instant) -> Verdict {
        let peer = message
            .attributes
            .0
            .iter()
            .find(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
            .and_then(|a| wire::xor_address(&a.value, &message.transaction_id));
        let (Some(peer), Ok(data)) = (peer, message.get(ATTR_DATA)) else {
            return Verdict::Malformed;
        };
        let Some(allocation) = self.allocations.get_mut(&from) else {
            bump(&self.stats.dropped_no_permission);
            return Verdict::Accepted;
        };
        if !allocation.is_alive(now)
            || !allocation.has_permission(peer.ip(), now)
            || !self.policy.permits(peer)
        {
            bump(&self.stats.dropped_no_permission);
            return Verdict::Accepted;
        }
        if !crate::allocation::within(&mut allocation.to_peer, data.len(), now) {
            bump(&self.stats.dropped_bandwidth);
            return Verdict::Accepted;
        }
        bump(&self.stats.to_peer_packets);
        add(&self.stats.to_peer_bytes, data.len() as u64);
        self.outputs.push_back(Output::ToPeer {
            relay: allocation.relay,
            peer,
            data,
        });
        Verdict::Accepted
    }

    fn handle_channel_data(&mut self, from: FiveTuple, number: u16, data: &[u8], now: Instant) {
        let Some(allocation) = self.allocations.get_mut(&from) else {
            bump(&self.stats.dropped_no_permission);
            return;
        };
        let peer = allocation
            .channel_peer(number, now)
            .filter(|peer| allocation.is_alive(now) && allocation.has_permission(peer.ip(), now));
        let Some(peer) = peer else {
            bump(&self.stats.dropped_no_permission);
            return;
        };
        if !crate::allocation::within(&mut allocation.to_peer, data.len(), now) {
            bump(&self.stats.dropped_bandwidth);
            return;
        }
        bump(&self.stats.to_peer_packets);
        add(&self.stats.to_peer_bytes, data.len() as u64);
        self.outputs.push_back(Output::ToPeer {
            relay: allocation.relay,
            peer,
            data: data.to_vec(),
        });
    }

    fn remove_allocation(&mut self, five_tuple: &FiveTuple) {
        let Some(allocation) = self.allocations.remove(five_tuple) else {
            return;
        };
        self.by_relay.remove(&allocation.relay);
        if let Some(count) = self.per_user.get_mut(&allocation.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_user.remove(&allocation.user);
            }
        }
        self.stats
            .allocations_active
            .fetch_sub(1, Ordering::Relaxed);
        tracing::debug!(client = %five_tuple.client, relay = %allocation.relayed, "allocation closed");
        self.outputs.push_back(Output::CloseRelay {
            relay: allocation.relay,
            five_tuple: *five_tuple,
        });
    }

    fn refuse(
        &mut self,
        from: FiveTuple,
        request: &Message,
        refusal: Refusal,
        key: Option<&IntegrityKey>,
    ) {
        self.stats.refused(refusal);
        self.reply_error(from, request, refusal.code(), key);
    }

    fn reply_error(
        &mut self,
        from: FiveTuple,
        request: &Message,
        code: u16,
        key: Option<&IntegrityKey>,
    ) {
        self.reply(
            from,
            request,
            CLASS_ERROR_RESPONSE,
            vec![Box::new(wire::error_code(code))],
            key,
        );
    }

    fn reply(
        &mut self,
        to: FiveTuple,
        request: &Message,
        class: rtc_stun::message::MessageClass,
        attributes: Vec<Box<dyn Setter + '_>>,
        key: Option<&IntegrityKey>,
    ) {
        if let Some(data) = wire::response(request, class, attributes, key) {
            self.outputs.push_back(Output::ToClient { to, data });
        }
    }
}

#[cfg(test)]
mod tests;
