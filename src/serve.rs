//! `confer serve`: run the room server until Ctrl-C, then shut down gracefully.

use crate::logging::{self, LogFormat};
use anyhow::Context;
use clap::Args;
use server::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `confer serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Config file (TOML). Created with a fresh local app on first run.
    /// Default: $XDG_CONFIG_HOME/confer/server.toml (or ~/.config/confer/server.toml).
    #[arg(long, env = "CONFER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the config (e.g. 127.0.0.1:0 for any free port).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Serve this directory read-only at /updates/ as the desktop app's
    /// update feed (latest.json and the signed bundles), overriding the
    /// config's `update_feed`.
    #[arg(long, value_name = "DIR")]
    update_feed: Option<PathBuf>,
    /// TLS certificate chain (PEM): serve https and wss (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate kept beside the config file
    /// (made on first use for localhost and this machine's addresses);
    /// clients pin its SHA-256 fingerprint, printed at start.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// Allow plain http/ws on an address other than loopback.
    #[arg(long)]
    insecure_http: bool,
    /// IP the media (UDP and ICE-TCP) sockets bind, overriding `[media] udp_bind_ip`.
    #[arg(long, value_name = "IP")]
    media_ip: Option<std::net::IpAddr>,
    /// An address announced in the media candidates (repeat for several:
    /// a 1:1 NAT's public address, then the LAN one), overriding `[media]
    /// announced_ips`.
    #[arg(long = "announce", value_name = "IP")]
    announce: Vec<std::net::IpAddr>,
    /// The server's public address, announced beside its own: an IP, or
    /// `auto` to ask a STUN server of `[ice] stun_urls` (or --stun) at
    /// start. Overrides `[media] public_ip`.
    #[arg(long, value_name = "IP|auto")]
    public_ip: Option<server::config::PublicIp>,
    /// A STUN server (`stun:host:port`) handed to clients and asked by
    /// `--public-ip auto`; adds to `[ice] stun_urls`.
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// The one UDP port every media connection shares (0: any free one),
    /// overriding `[media] udp_port`.
    #[arg(long, value_name = "PORT")]
    udp_port: Option<u16>,
    /// The one TCP port media falls back to where UDP is blocked (ICE-TCP;
    /// 0: any free one), overriding `[media] tcp_port`.
    #[arg(long, value_name = "PORT", conflicts_with = "no_ice_tcp")]
    tcp_port: Option<u16>,
    /// No media over TCP (ICE-TCP), overriding `[media] ice_tcp`.
    #[arg(long)]
    no_ice_tcp: bool,
    /// One UDP port per media connection instead of one shared port, from
    /// MIN-MAX (or one port): sets `[media] mux = false` and
    /// `udp_port_min/max`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_port_range,
        conflicts_with_all = ["udp_port", "tcp_port"])]
    udp_ports: Option<(u16, u16)>,
    /// Run the built-in TURN server on this port, UDP and TCP, on the bind
    /// address (`[turn]` with defaults if the config has none; clients get
    /// its URLs and credentials at login).
    #[arg(long, value_name = "PORT")]
    turn_port: Option<u16>,
    /// Also serve TURN over TLS (the server's certificate) on this port,
    /// e.g. 443 on an address of its own: what gets through the strictest
    /// firewalls.
    #[arg(long, value_name = "PORT", requires = "turn_port")]
    turns_port: Option<u16>,
    /// Run as one node of several sharing this Redis (`redis://host:port`):
    /// rooms are pinned to nodes and logins redirected to the room's node.
    /// Sets `[nodes] redis_url`; without it (and no `[nodes]`), one node
    /// with the in-memory room store.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// This node's signaling URL as clients reach it (`wss://host/ws`),
    /// handed out in redirects; default: derived from the bound address.
    /// Sets `[nodes] public_url`.
    #[arg(long, value_name = "URL", requires = "redis")]
    public_url: Option<String>,
    /// How long a node's lease lasts without renewal (a dead node's rooms
    /// move after it). Sets `[nodes] lease_ms`.
    #[arg(long, value_name = "MS", requires = "redis")]
    node_lease_ms: Option<u64>,
    /// POST signed room events (room started / finished, user joined /
    /// left, stream published / stopped) to this URL; repeatable. Adds to
    /// `[webhooks] urls`.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(args.log_format, "info");
    let path = args.config.unwrap_or_else(default_config_path);
    let (mut config, created) = ServerConfig::load_or_create(&path)
        .with_context(|| format!("loading config {}", path.display()))?;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
    }
    if args.tls_self_signed {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let names = server::net::certificate_names(config.bind.ip());
        let (cert, key) =
            server::tls::self_signed(dir, &names).context("making the self-signed certificate")?;
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
    }
    config.insecure_http |= args.insecure_http;
    if let Some(ip) = args.media_ip {
        config.media.udp_bind_ip = ip;
    }
    if !args.announce.is_empty() {
        config.media.announced_ips = args.announce;
    }
    if let Some(public) = args.public_ip {
        config.media.public_ip = Some(public);
    }
    config.ice.stun_urls.extend(args.stun);
    if !args.webhooks.is_empty() {
        let webhooks = config.webhooks.get_or_insert_with(Default::default);
        webhooks.urls.extend(args.webhooks);
    }
    if let Some(port) = args.turn_port {
        let ip = config.bind.ip();
        let turn = config.turn.get_or_insert_with(Default::default);
        turn.listen_udp = std::net::SocketAddr::new(ip, port);
        turn.listen_tcp = Some(std::net::SocketAddr::new(ip, port));
        turn.listen_tls = args.turns_port.map(|p| std::net::SocketAddr::new(ip, p));
        if turn.secret.is_empty() && config.ice.turn_secret.is_none() {
            // Nobody else shares it: a fresh one each start (credentials
            // are minted per login anyway).
            turn.secret = protocol::auth::hex(&rand::random::<[u8; 16]>());
        }
    }
    if let Some(port) = args.udp_port {
        config.media.mux = true;
        config.media.udp_port = port;
        config.media.udp_port_min = None;
        config.media.udp_port_max = None;
    }
    if let Some(port) = args.tcp_port {
        config.media.tcp_port = port;
        config.media.ice_tcp = true;
    }
    if args.no_ice_tcp {
        config.media.ice_tcp = false;
        config.media.tcp_port = 0;
    }
    if let Some((min, max)) = args.udp_ports {
        config.media.mux = false;
        config.media.udp_port = 0;
        config.media.tcp_port = 0;
        config.media.udp_port_min = Some(min);
        config.media.udp_port_max = Some(max);
    }
    if let Some(url) = args.redis {
        config.nodes.get_or_insert_with(Default::default).redis_url = url;
    }
    if let Some(nodes) = config.nodes.as_mut() {
        if let Some(url) = args.public_url {
            nodes.public_url = Some(url);
        }
        if let Some(ms) = args.node_lease_ms {
            nodes.lease_ms = ms;
        }
    }
    if let Some(dir) = args.update_feed {
        anyhow::ensure!(
            dir.is_dir(),
            "--update-feed {} is not a directory",
            dir.display()
        );
        config.update_feed = Some(dir);
    }
    let feed = config.update_feed.clone();
    let apps = config.apps.clone();
    let handle = server::start(config).await.context("starting the server")?;

    println!("Confer server listening on {}", handle.ws_url());
    println!("  health:  {}/healthz", handle.http_url());
    println!("  metrics: {}/metrics", handle.http_url());
    if let Some(fingerprint) = handle.tls_fingerprint() {
        println!("  TLS certificate SHA-256: {fingerprint}");
    }
    if let Some(feed) = &feed {
        println!(
            "  updates: {}/updates/latest.json ({})",
            handle.http_url(),
            feed.display()
        );
    }
    let how = if created { "created" } else { "loaded" };
    println!("  config:  {} ({how})", path.display());
    for app in &apps {
        // The AppSign is the app's master secret: it stays in the config
        // file, never in a terminal or a log.
        println!("  AppID:   {} (AppSign in {})", app.app_id, path.display());
    }
    println!("Press Ctrl-C to stop.");

    crate::signal::stop_requested().await;
    println!("Shutting down...");
    handle.shutdown().await;
    Ok(())
}

/// `$XDG_CONFIG_HOME/confer/server.toml`, else `~/.config/confer/server.toml`,
/// else `./confer-server.toml`.
pub(crate) fn default_config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    match base {
        Some(dir) => dir.join("confer").join("server.toml"),
        None => PathBuf::from("confer-server.toml"),
    }
}

/// `MIN-MAX` or a single port.
fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (min, max) = text.split_once('-').unwrap_or((text, text));
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{p:?} is not a port"))
    };
    let (min, max) = (port(min)?, port(max)?);
    if min > max {
        return Err(format!("{min}-{max}: the range is reversed"));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::parse_port_range;

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("40000-40100"), Ok((40000, 40100)));
        assert_eq!(parse_port_range("3478"), Ok((3478, 3478)));
        for bad in ["0", "5-4", "x", "1-70000", ""] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }
}
