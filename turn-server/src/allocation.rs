//! One allocation: its relay, lifetime, permissions and channels (RFC 8656
//! §2.2, §9, §12), and the time rules for each.

use crate::token_bucket::TokenBucket;
use rtc_stun::message::TransactionId;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a permission lives without refresh (RFC 8656 §9: 300 s).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a channel binding lives without refresh (RFC 8656 §12: 600 s).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// After a channel binding expires, neither its number nor its peer may be
/// bound to something else for this long (RFC 8656 §12).
pub const CHANNEL_COOLDOWN: Duration = Duration::from_secs(300);

/// Why a channel cannot be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindError {
    /// The number is bound (or cooling down) to another peer, or the peer to
    /// another number: 400.
    Conflict,
    /// The allocation has the most channels allowed: 508.
    Full,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    peer: SocketAddr,
    expires: Instant,
}

/// An allocation on a 5-tuple.
pub(crate) struct Allocation {
    /// The relay socket's local address (what the IO layer reports).
    pub(crate) relay: SocketAddr,
    /// The address advertised in XOR-RELAYED-ADDRESS.
    pub(crate) relayed: SocketAddr,
    /// The full REST username that created it (requests on it must match).
    pub(crate) username: String,
    /// The quota key: the username without its expiry.
    pub(crate) user: String,
    pub(crate) expires: Instant,
    /// The Allocate transaction and its success response, for retransmits.
    pub(crate) allocate_tid: TransactionId,
    pub(crate) allocate_response: Vec<u8>,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, Channel>,
    channel_of_peer: HashMap<SocketAddr, u16>,
    cooling: Vec<(u16, SocketAddr, Instant)>,
    /// The bandwidth caps each way (`None`: unlimited).
    pub(crate) to_peer: Option<TokenBucket>,
    pub(crate) to_client: Option<TokenBucket>,
}

/// What an allocation is made of at creation.
pub(crate) struct NewAllocation {
    pub(crate) relay: SocketAddr,
    pub(crate) relayed: SocketAddr,
    pub(crate) username: String,
    pub(crate) user: String,
    pub(crate) lifetime: Duration,
    pub(crate) allocate_tid: TransactionId,
    pub(crate) bandwidth: u64,
}

/// A cap of `bytes_per_second` holding at most one second of it (0:
/// unlimited).
fn bandwidth_cap(bytes_per_second: u64, now: Instant) -> Option<TokenBucket> {
    (bytes_per_second > 0).then(|| TokenBucket::new(bytes_per_second, bytes_per_second, now))
}

/// Whether `bytes` fit under `cap` now (taking them if so).
pub(crate) fn within(cap: &mut Option<TokenBucket>, bytes: usize, now: Instant) -> bool {
    cap.as_mut()
        .is_none_or(|bucket| bucket.try_take(bytes as u64, now))
}

impl Allocation {
    pub(crate) fn new(new: NewAllocation, now: Instant) -> Allocation {
        Allocation {
            relay: new.relay,
            relayed: new.relayed,
            username: new.username,
            user: new.user,
            expires: now + new.lifetime,
            allocate_tid: new.allocate_tid,
            allocate_response: Vec::new(),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_of_peer: HashMap::new(),
            cooling: Vec::new(),
            to_peer: bandwidth_cap(new.bandwidth, now),
            to_client: bandwidth_cap(new.bandwidth, now),
        }
    }

    pub(crate) fn is_alive(&self, now: Instant) -> bool {
        self.expires > now
    }

    /// Whether data may flow to and from `peer`'s IP.
    pub(crate) fn has_permission(&self, peer: IpAddr, now: Instant) -> bool {
        self.permissions
            .get(&peer)
            .is_some_and(|expires| *expires > now)
    }

    /// Installs or refreshes permissions for all `peers` (all or nothing);
    /// `false` if that would exceed `max` permissions.
    pub(crate) fn permit(&mut self, peers: &[IpAddr], max: usize, now: Instant) -> bool {
        self.permissions.retain(|_, expires| *expires > now);
        let new = peers
            .iter()
            .filter(|ip| !self.permissions.contains_key(ip))
            .collect::<std::collections::HashSet<_>>()
            .len();
        if self.permissions.len() + new > max {
            return false;
        }
        for ip in peers {
            self.permissions.insert(*ip, now + PERMISSION_LIFETIME);
        }
        true
    }

    /// The live channel bound to `number`.
    pub(crate) fn channel_peer(&self, number: u16, now: Instant) -> Option<SocketAddr> {
        self.channels
            .get(&number)
            .filter(|c| c.expires > now)
            .map(|c| c.peer)
    }

    /// The live channel number bound to `peer`.
    pub(crate) fn peer_channel(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let number = *self.channel_of_peer.get(&peer)?;
        self.channel_peer(number, now).map(|_| number)
    }

    /// Binds or refreshes channel `number` to `peer` (RFC 8656 §12.2 rules).
    pub(crate) fn bind_channel(
        &mut self,
        number: u16,
        peer: SocketAddr,
        max: usize,
        now: Instant,
    ) -> Result<(), BindError> {
        self.expire_channels(now);
        let number_taken = self.channels.get(&number).is_some_and(|c| c.peer != peer);
        let peer_taken = self
            .channel_of_peer
            .get(&peer)
            .is_some_and(|n| *n != number);
        let cooling = self
            .cooling
            .iter()
            .any(|(n, p, _)| (*n == number) != (*p == peer));
        if number_taken || peer_taken || cooling {
            return Err(BindError::Conflict);
        }
        if !self.channels.contains_key(&number) && self.channels.len() >= max {
            return Err(BindError::Full);
        }
        self.cooling.retain(|(n, _, _)| *n != number);
        self.channels.insert(
            number,
            Channel {
                peer,
                expires: now + CHANNEL_LIFETIME,
            },
        );
        self.channel_of_peer.insert(peer, number);
        Ok(())
    }

    /// Drops expired permissions and channels; returns the earliest time
    /// anything in this allocation expires next.
    pub(crate) fn expire(&mut self, now: Instant) -> Instant {
        self.permissions.retain(|_, expires| *expires > now);
        self.expire_channels(now);
        let mut next = self.expires;
        for expires in self.permissions.values() {
            next = next.min(*expires);
        }
        for channel in self.channels.values() {
            next = next.min(channel.expires);
        }
        for (_, _, until) in &self.cooling {
            next = next.min(*until);
        }
        next
    }

    fn expire_channels(&mut self, now: Instant) {
        self.cooling.retain(|(_, _, until)| *until > now);
        let expired: Vec<u16> = self
            .channels
            .iter()
            .filter(|(_, c)| c.expires <= now)
            .map(|(n, _)| *n)
            .collect();
        for number in expired {
            if let Some(channel) = self.channels.remove(&number) {
                self.channel_of_peer.remove(&channel.peer);
                self.cooling
                    .push((number, channel.peer, channel.expires + CHANNEL_COOLDOWN));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocation(now: Instant) -> Allocation {
        Allocation::new(
            NewAllocation {
                relay: "127.0.0.1:50000".parse().unwrap(),
                relayed: "127.0.0.1:50000".parse().unwrap(),
                username: "9:u".into(),
                user: "u".into(),
                lifetime: Duration::from_secs(600),
                allocate_tid: TransactionId::default(),
                bandwidth: 0,
            },
            now,
        )
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn zero_bandwidth_is_unlimited() {
        let t0 = Instant::now();
        let mut a = allocation(t0);
        assert!(within(&mut a.to_peer, usize::MAX, t0));
        assert!(within(&mut a.to_client, usize::MAX, t0));
    }

    #[test]
    fn permissions_last_300_seconds_and_are_capped() {
        let t0 = Instant::now();
        let mut a = allocation(t0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(a.permit(&[ip], 2, t0));
        assert!(a.has_permission(ip, t0 + Duration::from_secs(299)));
        assert!(!a.has_permission(ip, t0 + Duration::from_secs(300)));
        let others: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "192.0.2.3".parse().unwrap()];
        assert!(!a.permit(&others, 2, t0));
        assert!(!a.has_permission(others[0], t0), "all or nothing");
        // Once the first expired, two fit.
        assert!(a.permit(&others, 2, t0 + Duration::from_secs(301)));
    }

    #[test]
    fn channels_follow_the_binding_rules() {
        let t0 = Instant::now();
        let mut a = allocation(t0);
        let p1 = peer("192.0.2.1:1000");
        let p2 = peer("192.0.2.2:1000");
        assert_eq!(a.bind_channel(0x4000, p1, 2, t0), Ok(()));
        // Refresh: same number, same peer.
        assert_eq!(a.bind_channel(0x4000, p1, 2, t0), Ok(()));
        // The number to another peer, the peer to another number: 400.
        assert_eq!(a.bind_channel(0x4000, p2, 2, t0), Err(BindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, p1, 2, t0), Err(BindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, p2, 2, t0), Ok(()));
        assert_eq!(
            a.bind_channel(0x4002, peer("192.0.2.3:1"), 2, t0),
            Err(BindError::Full)
        );
        assert_eq!(a.channel_peer(0x4000, t0), Some(p1));
        assert_eq!(a.peer_channel(p2, t0), Some(0x4001));
        // Expiry at 600 s, then 300 s of cooldown for other bindings.
        let t600 = t0 + Duration::from_secs(600);
        assert_eq!(a.channel_peer(0x4000, t600), None);
        a.expire(t600);
        assert_eq!(
            a.bind_channel(0x4000, p2, 3, t600),
            Err(BindError::Conflict)
        );
        assert_eq!(
            a.bind_channel(0x4000, p1, 3, t600),
            Ok(()),
            "same binding may return"
        );
        let t901 = t0 + Duration::from_secs(901);
        a.expire(t901);
        assert_eq!(a.bind_channel(0x4001, peer("192.0.2.9:9"), 3, t901), Ok(()));
    }
}
