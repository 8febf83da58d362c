//! The built-in TURN server (`[turn]`, `confer serve --turn-port`) as the
//! room server runs it: one shared secret with `[ice]`, the URLs clients get
//! at login, and a peer policy that opens exactly the SFU's own media
//! addresses (so a server on a private network can still be relayed to)
//! while coturn's safety defaults deny every other private, loopback or
//! link-local peer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use confer_turn::{IpNet, TurnError, TurnHandle, TurnServer};

use crate::config::ServerConfig;

/// Starts `[turn]` if configured, after filling in what it shares with
/// the rest of the config: the secret (either way), the advertised address
/// (`external_ip`, else `public`, else a specific bind address, else the
/// first LAN address), the SFU's media addresses as allowed peers, and
/// `[ice] turn_urls` when none are configured. `tls` serves TURN over TLS.
pub(crate) async fn start(
    config: &mut ServerConfig,
    public: Option<IpAddr>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<Option<TurnHandle>, TurnError> {
    let ServerConfig {
        turn, ice, media, ..
    } = config;
    let Some(turn) = turn.as_mut() else {
        return Ok(None);
    };
    match &ice.turn_secret {
        Some(secret) if turn.secret.is_empty() => turn.secret = secret.clone(),
        None => ice.turn_secret = Some(turn.secret.clone()),
        Some(_) => {}
    }
    let specific = |ip: IpAddr| (!ip.is_unspecified()).then_some(ip);
    let advertised = turn
        .external_ip
        .or(public)
        .or(specific(turn.relay_ip))
        .or(specific(turn.listen_udp.ip()))
        .or_else(|| crate::net::lan_addresses().first().copied())
        .unwrap_or(turn.listen_udp.ip());
    if turn.relay_ip.is_unspecified() && turn.external_ip.is_none() {
        turn.external_ip = Some(advertised);
    }
    let sfu = media
        .announced_ips
        .iter()
        .copied()
        .chain(specific(media.udp_bind_ip))
        .filter_map(|ip| IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }));
    for net in sfu {
        if !turn.allowed_peer_networks.contains(&net) {
            turn.allowed_peer_networks.push(net);
        }
    }
    let tls = tls.filter(|_| turn.listen_tls.is_some());
    let handle = TurnServer::start(turn.clone(), tls).await?;
    if ice.turn_urls.is_empty() {
        // Behind a 1:1 NAT every listener is reached on the advertised
        // address; otherwise a listener bound to an address of its own
        // (TURN over TLS on 443 beside https) is reached there.
        let behind_nat = turn.external_ip.is_some() && !turn.relay_ip.is_unspecified();
        let host = |listener: std::net::SocketAddr| match specific(listener.ip()) {
            Some(ip) if !behind_nat => ip,
            _ => advertised,
        };
        ice.turn_urls = urls(&handle, host);
    }
    tracing::info!(udp = %handle.udp_addr(), tcp = ?handle.tcp_addr(), tls = ?handle.tls_addr(),
        %advertised, urls = ?ice.turn_urls, "built-in TURN server listening");
    Ok(Some(handle))
}

/// The URLs of a running TURN server, each listener reached at `host(its
/// address)`.
fn urls(handle: &TurnHandle, host: impl Fn(SocketAddr) -> IpAddr) -> Vec<String> {
    let at = |listener: SocketAddr| SocketAddr::new(host(listener), listener.port());
    let mut urls = vec![format!("turn:{}?transport=udp", at(handle.udp_addr()))];
    if let Some(tcp) = handle.tcp_addr() {
        urls.push(format!("turn:{}?transport=tcp", at(tcp)));
    }
    if let Some(tls) = handle.tls_addr() {
        urls.push(format!("turns:{}?transport=tcp", at(tls)));
    }
    urls
}
