//! The TURN server's system tests and bench: a server on loopback, TURN
#![allow(clippy::unwrap_used)]
//! REST credentials, and a small TURN client ([`Client`]) built from
//! rtc-stun / rtc-turn messages ([`wire`]) that speaks UDP, TCP and TLS.

pub mod wire;

use crate::unix_now;
use confer_turn::{rest_password, Config, TurnHandle, TurnServer};
use rtc_stun::attributes::{ATTR_NONCE, ATTR_REALM};
use rtc_stun::message::{
    Getter, Message, MessageType, Method, Setter, TransactionId, CLASS_INDICATION, METHOD_ALLOCATE,
    METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_DATA,
};
use rtc_stun::textattrs::TextAttribute;
use rtc_turn::proto::channum::ChannelNumber;
use rtc_turn::proto::data::Data;
use rtc_turn::proto::peeraddr::PeerAddress;
use rtc_turn::proto::relayaddr::RelayedAddress;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
pub use wire::{decode, error_code, Signer};

/// The TURN REST secret of the test servers.
pub const SECRET: &str = "integration-test-shared-secret";
/// The realm of the test servers.
pub const REALM: &str = "confer.test";
/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(3);

/// Confer's username and password for `user`, valid for `ttl_secs` (may
/// be negative: already expired).
pub fn credentials(user: &str, ttl_secs: i64) -> (String, String) {
    let expiry = unix_now().saturating_add_signed(ttl_secs);
    let username = format!("{expiry}:1:{user}");
    let password = rest_password(SECRET, &username);
    (username, password)
}

/// A loopback configuration: UDP + TCP on ephemeral ports, relays on
/// 127.0.0.1, loopback peers allowed.
pub fn loopback_config() -> Config {
    Config {
        listen_udp: "127.0.0.1:0".parse().unwrap(),
        listen_tcp: Some("127.0.0.1:0".parse().unwrap()),
        allowed_peer_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..Config::new(SECRET, REALM, "127.0.0.1".parse().unwrap())
    }
}

/// Starts a server on loopback (UDP and TCP) with [`loopback_config`]
/// changed by `tweak`.
pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TurnHandle {
    let mut config = loopback_config();
    tweak(&mut config);
    start(config, None).await
}

/// A self-signed certificate for "localhost": the server's rustls config
/// and the certificate for clients to trust.
pub fn tls_pair() -> (
    Arc<rustls::ServerConfig>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    (Arc::new(config), cert)
}

/// Starts a server on loopback with `config`, plus TLS if `tls`.
pub async fn start(mut config: Config, tls: Option<Arc<rustls::ServerConfig>>) -> TurnHandle {
    if tls.is_some() {
        config.listen_tls = Some("127.0.0.1:0".parse().unwrap());
    }
    TurnServer::start(config, tls).await.unwrap()
}

/// A byte stream a client can speak TURN over (TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How a test client reaches the server.
pub enum Conn {
    /// A UDP socket and the server's address.
    Udp(UdpSocket, SocketAddr),
    /// A stream and what was read of it but not yet framed.
    Stream(Box<dyn Stream>, Vec<u8>),
}

impl Conn {
    /// A UDP socket on loopback, to `server`.
    pub async fn udp(server: SocketAddr) -> Conn {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Conn::Udp(socket, server)
    }

    /// A TCP connection to `server`.
    pub async fn tcp(server: SocketAddr) -> Conn {
        let tcp = TcpStream::connect(server).await.unwrap();
        Conn::Stream(Box::new(tcp), Vec::new())
    }

    /// A TLS connection to `server` ("localhost"), trusting `cert`.
    pub async fn tls(
        server: SocketAddr,
        cert: &rustls::pki_types::CertificateDer<'static>,
    ) -> Conn {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(server).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        Conn::Stream(Box::new(tls), Vec::new())
    }

    /// Sends `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        match self {
            Conn::Udp(socket, server) => {
                socket.send_to(bytes, *server).await.unwrap();
            }
            Conn::Stream(stream, _) => {
                stream.write_all(bytes).await.unwrap();
            }
        }
    }

    /// The next message (datagram, or framed STUN/ChannelData), or `None`
    /// after [`WAIT`] or when the connection closed.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        match self {
            Conn::Udp(socket, _) => {
                let mut buf = vec![0u8; 65536];
                let (n, _) = timeout(WAIT, socket.recv_from(&mut buf)).await.ok()?.ok()?;
                buf.truncate(n);
                Some(buf)
            }
            Conn::Stream(stream, buf) => loop {
                if let confer_turn::Frame::Complete(len) = confer_turn::stream_frame(buf) {
                    return Some(buf.drain(..len).collect());
                }
                let mut chunk = [0u8; 4096];
                let n = timeout(WAIT, stream.read(&mut chunk)).await.ok()?.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            },
        }
    }
}

/// What arrived for the client: relayed data or a STUN response.
#[derive(Debug)]
pub enum Incoming {
    /// A Data indication from `peer`.
    Data(SocketAddr, Vec<u8>),
    /// ChannelData on `channel`.
    Channel(u16, Vec<u8>),
}

/// A TURN client with long-term credentials.
pub struct Client {
    /// Its connection to the server.
    pub conn: Conn,
    /// The TURN REST username.
    pub username: String,
    /// The TURN REST password.
    pub password: String,
    /// The nonce learnt from the last challenge.
    pub nonce: Option<String>,
    /// The realm learnt from the last challenge.
    pub realm: String,
    /// Relayed data that arrived while waiting for a response.
    pub pending: Vec<Incoming>,
}

impl Client {
    /// A client on `conn` with `(username, password)`, no nonce yet.
    pub fn new(conn: Conn, (username, password): (String, String)) -> Client {
        Client {
            conn,
            username,
            password,
            nonce: None,
            realm: REALM.to_owned(),
            pending: Vec::new(),
        }
    }

    /// A UDP client of `server` for `user`, with credentials valid for an
    /// hour.
    pub async fn udp(server: &TurnHandle, user: &str) -> Client {
        Client::new(Conn::udp(server.udp_addr()).await, credentials(user, 3600))
    }

    /// A TCP client of the server at `addr` for `user`, with credentials
    /// valid for an hour.
    pub async fn tcp(addr: SocketAddr, user: &str) -> Client {
        Client::new(Conn::tcp(addr).await, credentials(user, 3600))
    }

    /// Builds a request; signed once a nonce is known.
    pub fn build(
        &self,
        method: Method,
        tid: TransactionId,
        attrs: Vec<Box<dyn Setter>>,
    ) -> Vec<u8> {
        let signer = self.nonce.as_deref().map(|nonce| Signer {
            username: &self.username,
            realm: &self.realm,
            password: &self.password,
            nonce,
        });
        wire::request(method, tid, attrs, signer)
    }

    /// Sends one request and waits for its response (`None`: no answer).
    pub async fn exchange(&mut self, bytes: Vec<u8>) -> Option<Message> {
        let tid = decode(&bytes).transaction_id;
        self.conn.send(&bytes).await;
        loop {
            let incoming = self.conn.recv().await?;
            if let Some(data) = parse_incoming(&incoming) {
                self.pending.push(data);
                continue;
            }
            let message = decode(&incoming);
            if message.transaction_id == tid {
                return Some(message);
            }
        }
    }

    /// A request with the challenge dance: unsigned first (when no nonce
    /// yet), then signed with the realm and nonce learnt; a 438 is retried
    /// once with the fresh nonce.
    pub async fn request(
        &mut self,
        method: Method,
        attrs: impl Fn() -> Vec<Box<dyn Setter>>,
    ) -> Message {
        for _ in 0..3 {
            let bytes = self.build(method, TransactionId::new(), attrs());
            let response = self
                .exchange(bytes)
                .await
                .expect("no response from the server");
            match error_code(&response) {
                Some(401) if self.nonce.is_none() => self.learn(&response),
                Some(438) => self.learn(&response),
                _ => return response,
            }
        }
        panic!("challenge loop did not settle");
    }

    /// Takes the nonce and realm of a 401 or 438 challenge.
    pub fn learn(&mut self, challenge: &Message) {
        self.nonce = TextAttribute::get_from_as(challenge, ATTR_NONCE)
            .ok()
            .map(|t| t.text);
        if let Ok(realm) = TextAttribute::get_from_as(challenge, ATTR_REALM) {
            self.realm = realm.text;
        }
    }

    /// Allocates and returns the relayed address; panics on an error.
    pub async fn allocate(&mut self) -> SocketAddr {
        let response = self.try_allocate().await;
        let mut relayed = RelayedAddress::default();
        relayed
            .get_from(&response)
            .unwrap_or_else(|_| panic!("allocate failed: {:?}", error_code(&response)));
        SocketAddr::new(relayed.ip, relayed.port)
    }

    /// An Allocate (UDP relay): the response, success or error.
    pub async fn try_allocate(&mut self) -> Message {
        self.request(METHOD_ALLOCATE, wire::udp_transport).await
    }

    /// A CreatePermission for `peer`: the response.
    pub async fn create_permission(&mut self, peer: SocketAddr) -> Message {
        self.request(METHOD_CREATE_PERMISSION, move || {
            vec![Box::new(PeerAddress {
                ip: peer.ip(),
                port: peer.port(),
            })]
        })
        .await
    }

    /// A ChannelBind of channel `number` to `peer`: the response.
    pub async fn channel_bind(&mut self, number: u16, peer: SocketAddr) -> Message {
        self.request(METHOD_CHANNEL_BIND, move || {
            vec![
                Box::new(ChannelNumber(number)),
                Box::new(PeerAddress {
                    ip: peer.ip(),
                    port: peer.port(),
                }),
            ]
        })
        .await
    }

    /// Sends `data` to `peer` in a Send indication.
    pub async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        self.conn.send(&wire::send_indication(peer, data)).await;
    }

    /// Sends ChannelData, padded on stream transports.
    pub async fn channel_data(&mut self, number: u16, data: &[u8]) {
        let mut out = Vec::new();
        out.extend_from_slice(&number.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        if matches!(self.conn, Conn::Stream(..)) {
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        self.conn.send(&out).await;
    }

    /// The next relayed data (`None` after [`WAIT`]).
    pub async fn recv_data(&mut self) -> Option<Incoming> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        loop {
            let bytes = self.conn.recv().await?;
            if let Some(data) = parse_incoming(&bytes) {
                return Some(data);
            }
        }
    }
}

fn parse_incoming(bytes: &[u8]) -> Option<Incoming> {
    match bytes.first()? >> 6 {
        1 => {
            let number = u16::from_be_bytes([bytes[0], bytes[1]]);
            let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
            Some(Incoming::Channel(number, bytes[4..4 + len].to_vec()))
        }
        0 => {
            let message = decode(bytes);
            if message.typ != MessageType::new(METHOD_DATA, CLASS_INDICATION) {
                return None;
            }
            let mut peer = PeerAddress::default();
            peer.get_from(&message).ok()?;
            let mut data = Data::default();
            data.get_from(&message).ok()?;
            Some(Incoming::Data(SocketAddr::new(peer.ip, peer.port), data.0))
        }
        _ => None,
    }
}

/// A UDP peer on loopback.
pub async fn peer() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// The next datagram on `socket` and its sender (panics after [`WAIT`]).
pub async fn peer_recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("the peer got nothing")
        .unwrap();
    buf.truncate(n);
    (buf, from)
}
