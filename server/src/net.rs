//! This machine's network addresses, for what a server tells others to
//! reach (invite links, self-signed certificate names).

use std::net::IpAddr;
#[cfg(not(unix))]
use std::net::Ipv4Addr;

/// This machine's IPv4 addresses others on the network can reach (not
/// loopback, not link-local).
#[cfg(unix)]
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = Vec::new();
    let interfaces = match nix::ifaddrs::getifaddrs() {
        Ok(interfaces) => interfaces,
        Err(error) => {
            tracing::warn!(%error, "cannot list network interfaces");
            return found;
        }
    };
    for interface in interfaces {
        let Some(ip) = interface
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|a| a.ip())
        else {
            continue;
        };
        if !ip.is_loopback() && !ip.is_link_local() && !found.contains(&IpAddr::V4(ip)) {
            found.push(IpAddr::V4(ip));
        }
    }
    found
}

/// This machine's address on its default route. (Windows and others: the
/// interface list needs platform APIs; this finds the one that matters most.)
#[cfg(not(unix))]
pub fn lan_addresses() -> Vec<IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the route.
    std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| vec![a.ip()])
        .unwrap_or_default()
}

/// The names a self-signed certificate for a server bound to `bind` must
/// carry: `localhost`, loopback, and the bound address (every LAN address
/// when bound to all interfaces).
pub fn certificate_names(bind: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let addresses = if bind.is_unspecified() {
        lan_addresses()
    } else {
        vec![bind]
    };
    for ip in addresses {
        let name = ip.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_addresses_are_not_loopback() {
        assert!(lan_addresses().iter().all(|ip| !ip.is_loopback()));
    }

    #[test]
    fn certificate_names_cover_loopback_and_the_bound_address() {
        let names = certificate_names("192.0.2.9".parse().expect("literal"));
        assert_eq!(names, ["localhost", "127.0.0.1", "192.0.2.9"]);
        let all = certificate_names("0.0.0.0".parse().expect("literal"));
        assert!(all.len() >= 2 && all.iter().all(|n| n != "0.0.0.0"));
    }
}
