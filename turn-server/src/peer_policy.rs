//! Which peers a relay may talk to.
//!
//! A TURN relay sends packets wherever an authenticated client asks, from
//! the server's own network position. Without a policy that makes it a
//! proxy into the server's LAN, its loopback services and its cloud metadata
//! endpoint. [`PeerPolicy`] denies every address that is not a public
//! unicast address, plus the server's own addresses, unless an operator
//! allows a network explicitly (tests on loopback do; so does a LAN-only
//! deployment).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network: an address and a prefix length, written `10.0.0.0/8` or
/// `fe80::/10` (a bare address means a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A string that is not `address/prefix` with a prefix that fits the family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP network (expected e.g. 10.0.0.0/8 or fe80::/10): {0:?}")]
pub struct IpNetParseError(String);

impl IpNet {
    /// The network of `addr` with the first `prefix` bits significant, or
    /// `None` if the prefix is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this network. An IPv4 network never contains an
    /// IPv6 address, nor the other way round (map first: see
    /// [`canonical_ip`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || IpNetParseError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.trim().parse().map_err(|_| error())?;
                let prefix: u8 = prefix.trim().parse().map_err(|_| error())?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = s.trim().parse().map_err(|_| error())?;
                let prefix = if addr.is_ipv4() { 32 } else { 128 };
                (addr, prefix)
            }
        };
        IpNet::new(addr, prefix).ok_or_else(error)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The decision for one peer address: relay to it or not.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    allowed: Vec<IpNet>,
    denied: Vec<IpNet>,
    own_ips: Vec<IpAddr>,
    own_sockets: Vec<SocketAddr>,
}

impl PeerPolicy {
    /// A policy with the default deny rules, `allowed` networks exempted
    /// from them and `denied` networks added to them.
    pub fn new(allowed: Vec<IpNet>, denied: Vec<IpNet>) -> PeerPolicy {
        PeerPolicy {
            allowed,
            denied,
            own_ips: Vec::new(),
            own_sockets: Vec::new(),
        }
    }

    /// Adds one of the server's own addresses (relay IP, advertised IP,
    /// listening IP): denied as a peer unless allowed.
    pub fn add_own_ip(&mut self, ip: IpAddr) {
        let ip = canonical_ip(ip);
        if !ip.is_unspecified() && !self.own_ips.contains(&ip) {
            self.own_ips.push(ip);
        }
    }

    /// Adds one of the server's listening sockets: always denied as a peer,
    /// allow list or not (a relay must not feed the server its own input).
    pub fn add_own_socket(&mut self, addr: SocketAddr) {
        let addr = SocketAddr::new(canonical_ip(addr.ip()), addr.port());
        if !self.own_sockets.contains(&addr) {
            self.own_sockets.push(addr);
        }
        self.add_own_ip(addr.ip());
    }

    /// Whether the relay may send to (and accept data from) `peer`.
    pub fn permits(&self, peer: SocketAddr) -> bool {
        let ip = canonical_ip(peer.ip());
        if peer.port() == 0 {
            return false;
        }
        let is_own_socket = self
            .own_sockets
            .iter()
            .any(|own| own.port() == peer.port() && (own.ip() == ip || own.ip().is_unspecified()));
        if is_own_socket {
            return false;
        }
        if self.denied.iter().any(|net| net.contains(ip)) {
            return false;
        }
        if self.allowed.iter().any(|net| net.contains(ip)) {
            return true;
        }
        !is_special_purpose(ip) && !self.own_ips.contains(&ip)
    }
}

/// `ip` with IPv4 addresses inside IPv6 ones (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::`) turned into the IPv4 address they reach, so a rule
/// for `127.0.0.0/8` cannot be dodged by writing the peer as IPv6.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let seg = v6.segments();
    let embedded_low = || {
        Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        )
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // IPv4-compatible (deprecated), but not :: and ::1.
    if seg[..6].iter().all(|s| *s == 0) && (seg[6] != 0 || seg[7] > 1) {
        return IpAddr::V4(embedded_low());
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6].iter().all(|s| *s == 0) {
        return IpAddr::V4(embedded_low());
    }
    // 6to4 2002::/16 carries the IPv4 address in bits 16..48.
    if seg[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    ip
}

/// Whether `ip` is anything but a public unicast address: loopback,
/// unspecified, "this network" 0/8, private (RFC 1918, ULA), shared
/// (CGNAT 100.64/10), link-local, multicast, broadcast, reserved
/// (240/4), the IETF protocol block 192.0.0/24 and IPv6 site-local.
pub fn is_special_purpose(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    const NETS: [(Ipv4Addr, u8); 11] = [
        (Ipv4Addr::new(0, 0, 0, 0), 8),
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(100, 64, 0, 0), 10),
        (Ipv4Addr::new(127, 0, 0, 0), 8),
        (Ipv4Addr::new(169, 254, 0, 0), 16),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
        (Ipv4Addr::new(192, 0, 0, 0), 24),
        (Ipv4Addr::new(192, 168, 0, 0), 16),
        (Ipv4Addr::new(198, 18, 0, 0), 15),
        (Ipv4Addr::new(224, 0, 0, 0), 4),
        // Reserved 240/4, which includes broadcast 255.255.255.255.
        (Ipv4Addr::new(240, 0, 0, 0), 4),
    ];
    NETS.iter().any(|(net, prefix)| {
        prefix_match(
            u128::from(net.to_bits()),
            u128::from(ip.to_bits()),
            32,
            *prefix,
        )
    })
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    const NETS: [(u128, u8); 6] = [
        (0, 128),            // ::
        (1, 128),            // ::1
        (0xfc00 << 112, 7),  // ULA fc00::/7
        (0xfe80 << 112, 10), // link-local fe80::/10
        (0xfec0 << 112, 10), // site-local fec0::/10
        (0xff00 << 112, 8),  // multicast ff00::/8
    ];
    NETS.iter()
        .any(|(net, prefix)| prefix_match(*net, ip.to_bits(), 128, *prefix))
}

fn prefix_match(net: u128, ip: u128, width: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        return true;
    }
    let shift = width - prefix;
    (net >> shift) == (ip >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let host: IpNet = "192.0.2.7".parse().unwrap();
        assert_eq!(host.to_string(), "192.0.2.7/32");
        let v6: IpNet = "fe80::/10".parse().unwrap();
        assert!(v6.contains("fe80::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn default_policy_denies_everything_but_public_unicast() {
        let policy = PeerPolicy::new(Vec::new(), Vec::new());
        for denied in [
            "127.0.0.1:5000",
            "127.8.9.10:5000",
            "0.0.0.0:5000",
            "0.1.2.3:5000",
            "10.0.0.1:5000",
            "172.16.0.1:5000",
            "172.31.255.255:5000",
            "192.168.1.1:5000",
            "100.64.0.1:5000",
            "100.127.255.1:5000",
            "169.254.169.254:80",
            "224.0.0.1:5000",
            "239.255.255.250:1900",
            "255.255.255.255:5000",
            "[::1]:5000",
            "[::]:5000",
            "[fe80::1]:5000",
            "[fd00::1]:5000",
            "[ff02::1]:5000",
            "[::ffff:127.0.0.1]:5000",
            "[::ffff:10.0.0.1]:5000",
            "[64:ff9b::a9fe:a9fe]:80",
            "[2002:7f00:1::]:5000",
            "8.8.8.8:0",
        ] {
            assert!(!policy.permits(addr(denied)), "{denied} should be denied");
        }
        for allowed in [
            "8.8.8.8:53",
            "203.0.113.9:4000",
            "172.32.0.1:1",
            "[2001:4860::8888]:53",
        ] {
            assert!(policy.permits(addr(allowed)), "{allowed} should be allowed");
        }
    }

    #[test]
    fn allow_list_exempts_networks_but_never_the_listening_sockets() {
        let mut policy = PeerPolicy::new(vec!["127.0.0.0/8".parse().unwrap()], Vec::new());
        policy.add_own_socket(addr("127.0.0.1:3478"));
        assert!(policy.permits(addr("127.0.0.1:40000")));
        assert!(policy.permits(addr("[::ffff:127.0.0.1]:40000")));
        assert!(!policy.permits(addr("127.0.0.1:3478")));
        assert!(!policy.permits(addr("10.0.0.1:3478")));
    }

    #[test]
    fn own_addresses_and_extra_denials_are_denied() {
        let mut policy = PeerPolicy::new(Vec::new(), vec!["8.8.0.0/16".parse().unwrap()]);
        policy.add_own_ip("203.0.113.5".parse().unwrap());
        policy.add_own_socket(addr("0.0.0.0:3478"));
        assert!(!policy.permits(addr("203.0.113.5:50000")));
        assert!(!policy.permits(addr("198.51.100.1:3478")));
        assert!(!policy.permits(addr("8.8.8.8:53")));
        assert!(policy.permits(addr("203.0.113.6:50000")));
    }
}
