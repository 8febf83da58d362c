//! Counters the server keeps, readable from any thread while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a request was refused; one counter each in [`RefusalCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: a required attribute is missing or malformed.
    BadRequest,
    /// 401: credentials were sent but are wrong, expired or malformed (the
    /// first, credential-less challenge is counted in `challenges`).
    Unauthorized,
    /// 403: the peer address is denied by the peer policy.
    Forbidden,
    /// 420: a comprehension-required attribute the server does not know.
    UnknownAttribute,
    /// 437: no allocation (or a second one) on this 5-tuple.
    AllocationMismatch,
    /// 438: the nonce expired or is not this server's.
    StaleNonce,
    /// 440/443: address family not supported or not matching the relay.
    AddressFamily,
    /// 441: a request on an allocation made with another username.
    WrongCredentials,
    /// 442: the requested transport is not UDP.
    UnsupportedTransport,
    /// 486: the user holds the most allocations allowed.
    QuotaReached,
    /// 508: the server or the allocation is full (allocations, relay ports,
    /// permissions, channels).
    InsufficientCapacity,
}

impl Refusal {
    /// The STUN error code sent for this refusal.
    pub fn code(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::Unauthorized => 401,
            Refusal::Forbidden => 403,
            Refusal::UnknownAttribute => 420,
            Refusal::AllocationMismatch => 437,
            Refusal::StaleNonce => 438,
            Refusal::AddressFamily => 440,
            Refusal::WrongCredentials => 441,
            Refusal::UnsupportedTransport => 442,
            Refusal::QuotaReached => 486,
            Refusal::InsufficientCapacity => 508,
        }
    }
}

/// Refused requests by reason (all TURN requests, not only Allocate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct RefusalCounts {
    pub bad_request: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub unknown_attribute: u64,
    pub allocation_mismatch: u64,
    pub stale_nonce: u64,
    pub address_family: u64,
    pub wrong_credentials: u64,
    pub unsupported_transport: u64,
    pub quota_reached: u64,
    pub insufficient_capacity: u64,
}

/// Packets and bytes relayed in one direction (payload bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Packets relayed.
    pub packets: u64,
    /// Payload bytes relayed.
    pub bytes: u64,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Allocations alive now.
    pub allocations_active: u64,
    /// Allocations created since start.
    pub allocations_created: u64,
    /// 401 challenges to requests without credentials (the normal first
    /// step of every client).
    pub challenges: u64,
    /// Refused requests by reason.
    pub refused: RefusalCounts,
    /// Client to peer.
    pub to_peer: Traffic,
    /// Peer to client.
    pub to_client: Traffic,
    /// Relayed packets dropped by the per-allocation bandwidth cap.
    pub dropped_bandwidth: u64,
    /// Relayed packets dropped for want of a permission or channel, or
    /// because the peer is denied (Send indications to denied peers).
    pub dropped_no_permission: u64,
    /// Input that was neither STUN nor ChannelData, or was malformed.
    pub malformed: u64,
    /// TCP/TLS connections open now.
    pub stream_connections: u64,
    /// TCP/TLS connections closed at accept because of the cap.
    pub stream_connections_refused: u64,
}

/// The live counters behind [`StatsSnapshot`]; shared by the core and the IO
/// layer, updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) allocations_active: AtomicU64,
    pub(crate) allocations_created: AtomicU64,
    pub(crate) challenges: AtomicU64,
    refused: [AtomicU64; 11],
    pub(crate) to_peer_packets: AtomicU64,
    pub(crate) to_peer_bytes: AtomicU64,
    pub(crate) to_client_packets: AtomicU64,
    pub(crate) to_client_bytes: AtomicU64,
    pub(crate) dropped_bandwidth: AtomicU64,
    pub(crate) dropped_no_permission: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) stream_connections: AtomicU64,
    pub(crate) stream_connections_refused: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn refused(&self, refusal: Refusal) {
        bump(&self.refused[refusal as usize]);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let refused = |r: Refusal| get(&self.refused[r as usize]);
        StatsSnapshot {
            allocations_active: get(&self.allocations_active),
            allocations_created: get(&self.allocations_created),
            challenges: get(&self.challenges),
            refused: RefusalCounts {
                bad_request: refused(Refusal::BadRequest),
                unauthorized: refused(Refusal::Unauthorized),
                forbidden: refused(Refusal::Forbidden),
                unknown_attribute: refused(Refusal::UnknownAttribute),
                allocation_mismatch: refused(Refusal::AllocationMismatch),
                stale_nonce: refused(Refusal::StaleNonce),
                address_family: refused(Refusal::AddressFamily),
                wrong_credentials: refused(Refusal::WrongCredentials),
                unsupported_transport: refused(Refusal::UnsupportedTransport),
                quota_reached: refused(Refusal::QuotaReached),
                insufficient_capacity: refused(Refusal::InsufficientCapacity),
            },
            to_peer: Traffic {
                packets: get(&self.to_peer_packets),
                bytes: get(&self.to_peer_bytes),
            },
            to_client: Traffic {
                packets: get(&self.to_client_packets),
                bytes: get(&self.to_client_bytes),
            },
            dropped_bandwidth: get(&self.dropped_bandwidth),
            dropped_no_permission: get(&self.dropped_no_permission),
            malformed: get(&self.malformed),
            stream_connections: get(&self.stream_connections),
            stream_connections_refused: get(&self.stream_connections_refused),
        }
    }
}
