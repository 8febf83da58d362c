//! TURN allocations for a diagnosis: for each TURN URL the login handed
//! out, an Allocate with the long-term credentials (RFC 8656), then a
//! Refresh with lifetime 0 to free it. Over UDP, TCP or TLS as the URL says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use protocol::{ErrorCode, IceServer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::{Check, Step};
use crate::transport::turn_stream::{read_frame, TurnTransport, TurnUrl};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_LIFETIME: u16 = 0x000D;
const ATTR_REALM: u16 = 0x0014;
const ATTR_NONCE: u16 = 0x0015;
const ATTR_XOR_RELAYED_ADDRESS: u16 = 0x0016;
const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;
/// The largest answer read over UDP (a TURN answer is a few hundred bytes).
const MAX_ANSWER: usize = 1500;

/// The step that checks a TURN URL of this transport.
fn step_of(transport: TurnTransport) -> Step {
    match transport {
        TurnTransport::Udp => Step::TurnUdp,
        TurnTransport::Tcp => Step::TurnTcp,
        TurnTransport::Tls => Step::TurnTls,
    }
}

/// One check per TURN URL of `servers` (STUN URLs are skipped).
pub(super) async fn allocations(
    servers: &[IceServer],
    tls: Arc<rustls::ClientConfig>,
    limit: Duration,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for server in servers {
        for url in &server.urls {
            if url.starts_with("stun:") || url.starts_with("stuns:") {
                continue;
            }
            let started = Instant::now();
            let Some(target) = TurnUrl::parse(url) else {
                checks.push(Check::fail(
                    Step::TurnUdp,
                    url,
                    ErrorCode::TurnUrlUnsupported,
                    "not turn:host:port?transport=udp|tcp or turns:",
                    started,
                ));
                continue;
            };
            let creds = Credentials {
                username: server.username.clone(),
                password: server.credential.clone(),
            };
            let check =
                match timeout(limit, allocate(&target, &creds, Arc::clone(&tls), limit)).await {
                    Ok(Ok(relayed)) => Check::pass(
                        step_of(target.transport),
                        url,
                        format!("relayed address {relayed}"),
                        started,
                    ),
                    Ok(Err((code, detail))) => {
                        Check::fail(step_of(target.transport), url, code, detail, started)
                    }
                    Err(_) => Check::fail(
                        step_of(target.transport),
                        url,
                        ErrorCode::TurnUnreachable,
                        "no answer in time",
                        started,
                    ),
                };
            checks.push(check);
        }
    }
    checks
}

struct Credentials {
    username: String,
    password: String,
}

type Failure = (ErrorCode, String);

/// A request/answer channel to a TURN server.
enum Link {
    Udp(UdpSocket),
    Stream(Box<dyn Duplex>),
}

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

impl Link {
    async fn open(target: &TurnUrl, tls: Arc<rustls::ClientConfig>) -> Result<Link, Failure> {
        let unreachable = |e: std::io::Error| (ErrorCode::TurnUnreachable, e.to_string());
        let addr: SocketAddr = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(unreachable)?
            .next()
            .ok_or((ErrorCode::TurnUnreachable, "no address".to_owned()))?;
        match target.transport {
            TurnTransport::Udp => {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(local).await.map_err(unreachable)?;
                socket.connect(addr).await.map_err(unreachable)?;
                Ok(Link::Udp(socket))
            }
            TurnTransport::Tcp => Ok(Link::Stream(Box::new(
                TcpStream::connect(addr).await.map_err(unreachable)?,
            ))),
            TurnTransport::Tls => {
                let tcp = TcpStream::connect(addr).await.map_err(unreachable)?;
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|e| (ErrorCode::TurnUrlUnsupported, e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| (crate::room::tls::tls_io_code(&e), e.to_string()))?;
                Ok(Link::Stream(Box::new(stream)))
            }
        }
    }

    /// Sends `request` and returns the answer with its transaction ID
    /// (UDP: resent every 500 ms until `limit`).
    async fn ask(&mut self, request: &[u8], limit: Duration) -> Result<Vec<u8>, Failure> {
        let io = |e: std::io::Error| (ErrorCode::TurnUnreachable, e.to_string());
        match self {
            Link::Udp(socket) => {
                let deadline = Instant::now() + limit;
                let mut buf = vec![0u8; MAX_ANSWER];
                loop {
                    socket.send(request).await.map_err(io)?;
                    let wait = Duration::from_millis(500)
                        .min(deadline.saturating_duration_since(Instant::now()));
                    if let Ok(got) = timeout(wait, socket.recv(&mut buf)).await {
                        let n = got.map_err(io)?;
                        if n >= 20 && buf[8..20] == request[8..20] {
                            return Ok(buf[..n].to_vec());
                        }
                    }
                    if Instant::now() >= deadline {
                        return Err((ErrorCode::TurnUnreachable, "no answer over UDP".to_owned()));
                    }
                }
            }
            Link::Stream(stream) => {
                stream.write_all(request).await.map_err(io)?;
                read_frame(stream).await.map_err(io)
            }
        }
    }
}

/// Allocates (answering the 401 challenge), then frees the allocation;
/// the relayed address.
async fn allocate(
    target: &TurnUrl,
    creds: &Credentials,
    tls: Arc<rustls::ClientConfig>,
    limit: Duration,
) -> Result<SocketAddr, Failure> {
    let mut link = Link::open(target, tls).await?;
    let mut first = Request::new(ALLOCATE);
    first.attribute(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let answer = Answer::parse(&link.ask(&first.finish(None), limit).await?)?;
    let (realm, nonce) = match answer.error_code() {
        Some(401) => (
            answer.text(ATTR_REALM).unwrap_or_default(),
            answer.text(ATTR_NONCE).unwrap_or_default(),
        ),
        Some(code) => return Err(refusal(code)),
        None => {
            return answer
                .relayed()
                .ok_or((ErrorCode::TurnFailed, "no relayed address".to_owned()))
        }
    };
    let key = long_term_key(&creds.username, &realm, &creds.password);
    let signed = |method: u16, extra: &[(u16, Vec<u8>)]| {
        let mut r = Request::new(method);
        for (t, v) in extra {
            r.attribute(*t, v);
        }
        r.attribute(ATTR_USERNAME, creds.username.as_bytes());
        r.attribute(ATTR_REALM, realm.as_bytes());
        r.attribute(ATTR_NONCE, nonce.as_bytes());
        r.finish(Some(&key))
    };
    let answer = Answer::parse(
        &link
            .ask(
                &signed(ALLOCATE, &[(ATTR_REQUESTED_TRANSPORT, vec![17, 0, 0, 0])]),
                limit,
            )
            .await?,
    )?;
    if let Some(code) = answer.error_code() {
        return Err(refusal(code));
    }
    let relayed = answer.relayed().ok_or((
        ErrorCode::TurnFailed,
        "no relayed address in the answer".to_owned(),
    ))?;
    // Free it at once: a diagnosis must not hold the user's quota.
    let _ = link
        .ask(
            &signed(REFRESH, &[(ATTR_LIFETIME, vec![0, 0, 0, 0])]),
            limit,
        )
        .await;
    Ok(relayed)
}

fn refusal(code: u16) -> Failure {
    let error = match code {
        401 | 438 => ErrorCode::TurnUnauthorized,
        486 | 508 => ErrorCode::TurnQuotaReached,
        _ => ErrorCode::TurnFailed,
    };
    (error, format!("TURN error {code}"))
}

/// MD5(username ":" realm ":" password): the long-term credential key.
fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(format!("{username}:{realm}:{password}").as_bytes()).into()
}

/// A STUN request being built.
struct Request {
    bytes: Vec<u8>,
}

impl Request {
    fn new(method: u16) -> Request {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&method.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        bytes.extend_from_slice(&rand::random::<[u8; 12]>());
        Request { bytes }
    }

    fn attribute(&mut self, kind: u16, value: &[u8]) {
        self.bytes.extend_from_slice(&kind.to_be_bytes());
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(value);
        while self.bytes.len() % 4 != 0 {
            self.bytes.push(0);
        }
    }

    fn set_length(&mut self, extra: usize) {
        let len = u16::try_from(self.bytes.len() - 20 + extra).unwrap_or(u16::MAX);
        self.bytes[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// The message, with MESSAGE-INTEGRITY when `key` is given.
    fn finish(mut self, key: Option<&[u8]>) -> Vec<u8> {
        if let Some(key) = key {
            // The length covers the MESSAGE-INTEGRITY attribute (24 bytes).
            self.set_length(24);
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key)
                .expect("HMAC-SHA1 accepts keys of any length");
            mac.update(&self.bytes);
            let tag = mac.finalize().into_bytes();
            self.attribute(ATTR_MESSAGE_INTEGRITY, &tag);
        }
        self.set_length(0);
        self.bytes
    }
}

/// A parsed STUN answer.
struct Answer {
    class: u16,
    transaction: [u8; 12],
    attributes: Vec<(u16, Vec<u8>)>,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Result<Answer, Failure> {
        let bad = || (ErrorCode::TurnFailed, "not a STUN answer".to_owned());
        if bytes.len() < 20 || bytes[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(bad());
        }
        let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
        let mut transaction = [0u8; 12];
        transaction.copy_from_slice(&bytes[8..20]);
        let mut attributes = Vec::new();
        let mut at = 20;
        while at + 4 <= bytes.len() {
            let t = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            let value = bytes.get(at + 4..at + 4 + len).ok_or_else(bad)?;
            attributes.push((t, value.to_vec()));
            at += 4 + len.div_ceil(4) * 4;
        }
        Ok(Answer {
            class: kind & 0x0110,
            transaction,
            attributes,
        })
    }

    fn get(&self, kind: u16) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(t, _)| *t == kind)
            .map(|(_, v)| v.as_slice())
    }

    fn text(&self, kind: u16) -> Option<String> {
        self.get(kind)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The ERROR-CODE of an error answer.
    fn error_code(&self) -> Option<u16> {
        if self.class != ERROR {
            return None;
        }
        let v = self.get(ATTR_ERROR_CODE).unwrap_or(&[0, 0, 5, 0]);
        match v {
            [_, _, class, number, ..] => Some(u16::from(*class & 7) * 100 + u16::from(*number)),
            _ => Some(500),
        }
    }

    /// The XOR-RELAYED-ADDRESS of a success answer.
    fn relayed(&self) -> Option<SocketAddr> {
        if self.class != SUCCESS {
            return None;
        }
        let v = self.get(ATTR_XOR_RELAYED_ADDRESS)?;
        let cookie = MAGIC_COOKIE.to_be_bytes();
        let port = u16::from_be_bytes([v.get(2)? ^ cookie[0], v.get(3)? ^ cookie[1]]);
        match v.get(1)? {
            1 => {
                let ip: [u8; 4] =
                    std::array::from_fn(|i| v.get(4 + i).copied().unwrap_or(0) ^ cookie[i]);
                Some(SocketAddr::from((ip, port)))
            }
            2 => {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&cookie);
                key[4..].copy_from_slice(&self.transaction);
                let ip: [u8; 16] =
                    std::array::from_fn(|i| v.get(4 + i).copied().unwrap_or(0) ^ key[i]);
                Some(SocketAddr::from((ip, port)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_padded_and_signed_over_their_final_length() {
        let mut r = Request::new(ALLOCATE);
        r.attribute(ATTR_USERNAME, b"abcde");
        let bytes = r.finish(Some(b"key"));
        // 20 header + 12 (USERNAME padded) + 24 (MESSAGE-INTEGRITY).
        assert_eq!(bytes.len(), 56);
        assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), 36);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"key").unwrap();
        mac.update(&bytes[..32]);
        assert_eq!(&bytes[36..], mac.finalize().into_bytes().as_slice());
    }

    #[test]
    fn answers_yield_error_codes_and_relayed_addresses() {
        let mut err = Request::new(ALLOCATE | ERROR);
        err.attribute(ATTR_ERROR_CODE, &[0, 0, 4, 86]);
        let a = Answer::parse(&err.finish(None)).unwrap();
        assert_eq!(a.error_code(), Some(486));
        assert_eq!(refusal(486).0, ErrorCode::TurnQuotaReached);
        let mut ok = Request::new(ALLOCATE | SUCCESS);
        let c = MAGIC_COOKIE.to_be_bytes();
        ok.attribute(
            ATTR_XOR_RELAYED_ADDRESS,
            &[
                0,
                1,
                0xC3 ^ c[0],
                0x50 ^ c[1],
                198 ^ c[0],
                51 ^ c[1],
                100 ^ c[2],
                7 ^ c[3],
            ],
        );
        let a = Answer::parse(&ok.finish(None)).unwrap();
        assert_eq!(a.error_code(), None);
        assert_eq!(a.relayed(), Some("198.51.100.7:50000".parse().unwrap()));
        assert!(Answer::parse(&[0u8; 19]).is_err());
        // A length running past the end is refused, not read.
        let mut cut = Request::new(ALLOCATE | SUCCESS);
        cut.attribute(ATTR_REALM, b"realm");
        let mut bytes = cut.finish(None);
        bytes[23] = 200;
        assert!(Answer::parse(&bytes).is_err());
    }
}
