//! TURN over TCP and TLS for webrtc-rs 0.21, whose ICE agent speaks TURN
//! over UDP only (`turn_relayer.rs` skips `?transport=tcp` and `turns:`).
//!
//! Each such server gets a bridge: a UDP socket on loopback that the agent
//! is pointed at instead (`turn:127.0.0.1:<port>?transport=udp`, same
//! credentials), and for each local source (one per peer connection) its own
//! TCP or TLS connection to the real server, since a TURN server keys
//! allocations by 5-tuple. Datagrams go out as they are (ChannelData padded
//! to 4 bytes, as RFC 8656 §12.5 wants on streams) and frames come back
//! split by their own length fields: nothing of TURN is parsed beyond that,
//! so credentials and integrity stay end to end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use protocol::IceServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How a TURN server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TurnTransport {
    /// `turn:...` or `turn:...?transport=udp`.
    Udp,
    /// `turn:...?transport=tcp`.
    Tcp,
    /// `turns:...?transport=tcp`.
    Tls,
}

/// A parsed TURN URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TurnUrl {
    /// UDP, TCP or TLS.
    pub(crate) transport: TurnTransport,
    /// Host name or IP (without brackets).
    pub(crate) host: String,
    /// Port (3478, or 5349 for TLS, by default).
    pub(crate) port: u16,
}

impl TurnUrl {
    /// Reads `turn:host[:port][?transport=udp|tcp]` or
    /// `turns:host[:port][?transport=tcp]`; `None` for anything else.
    pub(crate) fn parse(url: &str) -> Option<TurnUrl> {
        let (scheme, rest) = url.split_once(':')?;
        let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
        let proto = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("transport="))
            .unwrap_or(if scheme == "turns" { "tcp" } else { "udp" });
        let (transport, default_port) = match (scheme, proto) {
            ("turn", "udp") => (TurnTransport::Udp, 3478),
            ("turn", "tcp") => (TurnTransport::Tcp, 3478),
            ("turns", "tcp") => (TurnTransport::Tls, 5349),
            _ => return None,
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (host, p.parse().ok()?),
                None if after.is_empty() => (host, default_port),
                None => return None,
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()?),
                None => (hostport, default_port),
            }
        };
        (!host.is_empty()).then(|| TurnUrl {
            transport,
            host: host.to_owned(),
            port,
        })
    }
}

/// The most bytes one STUN message or ChannelData frame may take.
const MAX_FRAME: usize = 64 * 1024;

/// Reads one STUN message or ChannelData frame from a TURN stream; the
/// ChannelData's padding is read and dropped.
pub(crate) async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let (body, padded) = match head[0] >> 6 {
        // STUN: a 20-byte header, attributes already 4-aligned.
        0 => (16 + len, 16 + len),
        // ChannelData (0x4000..=0x7FFF): padded to 4 on streams.
        1 => (len, len.div_ceil(4) * 4),
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "neither STUN nor ChannelData",
            ))
        }
    };
    if padded > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut frame = vec![0u8; 4 + padded];
    frame[..4].copy_from_slice(&head);
    stream.read_exact(&mut frame[4..]).await?;
    frame.truncate(4 + body);
    Ok(frame)
}

/// `datagram` as written to a TURN stream: ChannelData padded to 4 bytes.
fn stream_frame(datagram: &[u8]) -> Vec<u8> {
    let mut frame = datagram.to_vec();
    if datagram.first().is_some_and(|b| b >> 6 == 1) {
        frame.resize(datagram.len().div_ceil(4) * 4, 0);
    }
    frame
}

/// Local sources one bridge carries at once (each a peer connection).
const MAX_SOURCES: usize = 64;
/// Frames queued toward one stream before more are dropped (as UDP would).
const QUEUE: usize = 256;

/// The bridges of one engine, by TURN server; they live as long as it.
#[derive(Debug)]
pub(crate) struct TurnBridges {
    rt: Handle,
    tls: Arc<rustls::ClientConfig>,
    bridges: Mutex<HashMap<TurnUrl, (SocketAddr, JoinHandle<()>)>>,
}

impl TurnBridges {
    /// No bridges yet; TLS ones trust what `tls` trusts (the engine's
    /// roots, extra CA or pin).
    pub(crate) fn new(rt: Handle, tls: Arc<rustls::ClientConfig>) -> TurnBridges {
        TurnBridges {
            rt,
            tls,
            bridges: Mutex::new(HashMap::new()),
        }
    }

    /// `servers` as the agent can use them: every TCP or TLS TURN URL
    /// replaced by its bridge's loopback UDP URL (started on first use).
    pub(crate) fn rewrite(&self, servers: &[IceServer]) -> Vec<IceServer> {
        servers
            .iter()
            .map(|server| IceServer {
                urls: server
                    .urls
                    .iter()
                    .map(|url| match TurnUrl::parse(url) {
                        Some(target) if target.transport != TurnTransport::Udp => {
                            match self.bridge(target) {
                                Some(local) => format!("turn:{local}?transport=udp"),
                                None => url.clone(),
                            }
                        }
                        _ => url.clone(),
                    })
                    .collect(),
                ..server.clone()
            })
            .collect()
    }

    fn bridge(&self, target: TurnUrl) -> Option<SocketAddr> {
        let mut bridges = self.bridges.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((local, task)) = bridges.get(&target) {
            if !task.is_finished() {
                return Some(*local);
            }
        }
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .inspect_err(|error| tracing::warn!(%error, "no local socket for a TURN bridge"))
            .ok()?;
        let local = socket.local_addr().ok()?;
        let _guard = self.rt.enter();
        let socket = UdpSocket::from_std(socket).ok()?;
        let task = self
            .rt
            .spawn(run(Arc::new(socket), target.clone(), Arc::clone(&self.tls)));
        tracing::debug!(%local, ?target, "TURN stream bridge");
        bridges.insert(target, (local, task));
        Some(local)
    }
}

impl Drop for TurnBridges {
    fn drop(&mut self) {
        let bridges = self
            .bridges
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, (_, task)) in bridges.drain() {
            task.abort();
        }
    }
}

/// Carries datagrams from each local source over its own stream to `target`.
async fn run(socket: Arc<UdpSocket>, target: TurnUrl, tls: Arc<rustls::ClientConfig>) {
    let mut streams: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        streams.retain(|_, tx| !tx.is_closed());
        if !streams.contains_key(&from) {
            if streams.len() >= MAX_SOURCES {
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(carry(
                Arc::clone(&socket),
                from,
                target.clone(),
                Arc::clone(&tls),
                rx,
            ));
            streams.insert(from, tx);
        }
        if let Some(tx) = streams.get(&from) {
            // A full queue drops the datagram, as a congested UDP path would.
            let _ = tx.try_send(stream_frame(&buf[..n]));
        }
    }
}

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// One source's stream: connects, then writes what `rx` brings and sends
/// back every frame read, until either side ends.
async fn carry(
    socket: Arc<UdpSocket>,
    source: SocketAddr,
    target: TurnUrl,
    tls: Arc<rustls::ClientConfig>,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let stream = match connect(&target, tls).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, ?target, "TURN stream bridge could not connect");
            return;
        }
    };
    let (mut read, mut write) = tokio::io::split(stream);
    let upstream = async {
        while let Some(frame) = rx.recv().await {
            if write.write_all(&frame).await.is_err() {
                break;
            }
        }
    };
    let downstream = async {
        while let Ok(frame) = read_frame(&mut read).await {
            let _ = socket.send_to(&frame, source).await;
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

async fn connect(
    target: &TurnUrl,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<Box<dyn Duplex>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
    tcp.set_nodelay(true)?;
    if target.transport != TurnTransport::Tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    Ok(Box::new(
        tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_name_their_transport() {
        let p = |u: &str| TurnUrl::parse(u).map(|t| (t.transport, t.host, t.port));
        for (url, transport, host, port) in [
            ("turn:10.0.0.1:3478", TurnTransport::Udp, "10.0.0.1", 3478),
            (
                "turn:example.org?transport=tcp",
                TurnTransport::Tcp,
                "example.org",
                3478,
            ),
            (
                "turns:example.org:443?transport=tcp",
                TurnTransport::Tls,
                "example.org",
                443,
            ),
            ("turns:example.org", TurnTransport::Tls, "example.org", 5349),
            ("turn:[::1]:3478", TurnTransport::Udp, "::1", 3478),
        ] {
            assert_eq!(p(url), Some((transport, host.into(), port)), "{url}");
        }
        assert_eq!(p("turn:host:notaport"), None);
        assert_eq!(p("turns:host?transport=udp"), None);
        assert_eq!(p("stun:host"), None);
    }

    #[tokio::test]
    async fn frames_split_by_their_own_lengths_and_lose_their_padding() {
        // STUN (20 + 8 bytes), then ChannelData of 5 bytes padded to 8.
        let mut stun = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
        stun.extend([7u8; 12]);
        stun.extend([0, 0x06, 0, 4, 1, 2, 3, 4]);
        let channel = [0x40, 0x00, 0x00, 0x05, 9, 9, 9, 9, 9];
        let mut wire = stun.clone();
        wire.extend(stream_frame(&channel));
        assert_eq!(wire.len(), stun.len() + 12, "ChannelData padded to 4");
        let mut reader = &wire[..];
        assert_eq!(read_frame(&mut reader).await.unwrap(), stun);
        assert_eq!(read_frame(&mut reader).await.unwrap(), channel);
        assert!(read_frame(&mut reader).await.is_err(), "end of stream");
        let mut garbage = &[0xC0u8, 0, 0, 4, 1, 2, 3, 4][..];
        assert!(read_frame(&mut garbage).await.is_err());
    }

    #[tokio::test]
    async fn only_tcp_and_tls_urls_are_bridged() {
        let tls = crate::room::tls::client_config(&Default::default()).unwrap();
        let bridges = TurnBridges::new(Handle::current(), tls);
        let servers = vec![IceServer {
            urls: vec![
                "stun:203.0.113.1:3478".into(),
                "turn:203.0.113.1:3478?transport=udp".into(),
                "turn:203.0.113.1:3478?transport=tcp".into(),
                "turns:203.0.113.1:443?transport=tcp".into(),
            ],
            username: "u".into(),
            credential: "c".into(),
        }];
        let once = bridges.rewrite(&servers);
        let urls = &once[0].urls;
        assert_eq!(urls[..2], servers[0].urls[..2]);
        for url in &urls[2..] {
            assert!(
                url.starts_with("turn:127.0.0.1:") && url.ends_with("?transport=udp"),
                "{url}"
            );
        }
        assert_ne!(urls[2], urls[3], "one bridge per server");
        assert_eq!(
            (once[0].username.as_str(), once[0].credential.as_str()),
            ("u", "c")
        );
        assert_eq!(bridges.rewrite(&servers), once, "bridges are reused");
    }
}
