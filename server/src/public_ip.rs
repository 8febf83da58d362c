//! `--public-ip auto`: the server's public address, learned at start with
//! a STUN Binding request (RFC 5389) to a configured STUN server, as a
//! cloud VM behind 1:1 NAT or a home server behind its router sees itself
//! from outside.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rtc::stun::message::{Getter, Message, Setter, TransactionId, BINDING_REQUEST};
use rtc::stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;

/// Why the public address could not be learned.
#[derive(Debug, thiserror::Error)]
pub enum PublicIpError {
    /// No STUN server is configured to ask.
    #[error("--public-ip auto needs a STUN server: set [ice] stun_urls (e.g. stun:stun.example.org:3478)")]
    NoStunServer,
    /// The STUN URL is not `stun:host[:port]`.
    #[error("not a stun:host[:port] URL: {0}")]
    BadUrl(String),
    /// The STUN server's name did not resolve, or a socket failed.
    #[error("{url}: {source}")]
    Io {
        /// The STUN URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// No answer within the time allowed.
    #[error("{0}: no answer from the STUN server")]
    NoAnswer(String),
}

/// The host and port of a `stun:` URL (port 3478 by default).
pub(crate) fn stun_target(url: &str) -> Result<(String, u16), PublicIpError> {
    let bad = || PublicIpError::BadUrl(url.to_owned());
    let rest = url.strip_prefix("stun:").ok_or_else(bad)?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 3478,
            None => return Err(bad()),
        };
        (host, port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
            None => (rest, 3478),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// Asks the first answering STUN server of `urls`, from an ephemeral port
/// on `bind_ip`, which address it sees; each gets `wait` (resent every
/// 250 ms).
pub(crate) async fn discover(
    urls: &[String],
    bind_ip: IpAddr,
    wait: Duration,
) -> Result<IpAddr, PublicIpError> {
    let mut last = PublicIpError::NoStunServer;
    for url in urls.iter().filter(|u| u.starts_with("stun:")) {
        match ask(url, bind_ip, wait).await {
            Ok(ip) => return Ok(ip),
            Err(e) => {
                tracing::warn!(%url, error = %e, "STUN server did not tell our public address");
                last = e;
            }
        }
    }
    Err(last)
}

async fn ask(url: &str, bind_ip: IpAddr, wait: Duration) -> Result<IpAddr, PublicIpError> {
    let io = |source| PublicIpError::Io {
        url: url.to_owned(),
        source,
    };
    let (host, port) = stun_target(url)?;
    let server: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(io)?
        .find(|a| a.is_ipv4() == bind_ip.is_ipv4())
        .ok_or_else(|| PublicIpError::NoAnswer(url.to_owned()))?;
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0))
        .await
        .map_err(io)?;
    let request = binding_request();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 1500];
    while tokio::time::Instant::now() < deadline {
        socket.send_to(&request.raw, server).await.map_err(io)?;
        let resend = tokio::time::Instant::now() + Duration::from_millis(250);
        while let Ok(got) =
            tokio::time::timeout_at(resend.min(deadline), socket.recv_from(&mut buf)).await
        {
            let (n, from) = got.map_err(io)?;
            if from != server {
                continue;
            }
            if let Some(ip) = mapped_address(&buf[..n], &request.transaction_id) {
                return Ok(ip);
            }
        }
    }
    Err(PublicIpError::NoAnswer(url.to_owned()))
}

fn binding_request() -> Message {
    let mut m = Message::new();
    // Building a request from a fresh ID and a type cannot fail.
    let setters: [Box<dyn Setter>; 2] = [Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)];
    if let Err(error) = m.build(&setters) {
        tracing::error!(%error, "building a STUN binding request");
    }
    m
}

/// The XOR-MAPPED-ADDRESS of a Binding success answer to `transaction`.
fn mapped_address(bytes: &[u8], transaction: &TransactionId) -> Option<IpAddr> {
    let mut answer = Message::new();
    answer.unmarshal_binary(bytes).ok()?;
    if answer.transaction_id != *transaction {
        return None;
    }
    let mut xor = XorMappedAddress::default();
    xor.get_from(&answer).ok()?;
    Some(xor.ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::message::BINDING_SUCCESS;

    #[test]
    fn stun_urls_parse_with_default_port() {
        assert_eq!(
            stun_target("stun:stun.example.org").unwrap(),
            ("stun.example.org".into(), 3478)
        );
        assert_eq!(
            stun_target("stun:10.0.0.1:19302").unwrap(),
            ("10.0.0.1".into(), 19302)
        );
        assert_eq!(
            stun_target("stun:[2001:db8::1]:3479").unwrap(),
            ("2001:db8::1".into(), 3479)
        );
        for bad in ["turn:x:3478", "stun:", "stun:host:port", "stun:[::1"] {
            assert!(stun_target(bad).is_err(), "{bad}");
        }
    }

    /// A one-shot STUN server on loopback answering with `seen` as the
    /// mapped address (what a server behind NAT would be told).
    async fn stun_server(seen: SocketAddr) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            // Garbage first: the client must ignore it.
            let (_, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(b"not stun", from).await.unwrap();
            let answer = {
                let mut request = Message::new();
                request.unmarshal_binary(&buf).ok();
                let mut answer = Message::new();
                let setters: [Box<dyn Setter>; 3] = [
                    Box::new(request.transaction_id),
                    Box::new(BINDING_SUCCESS),
                    Box::new(XorMappedAddress {
                        ip: seen.ip(),
                        port: seen.port(),
                    }),
                ];
                answer.build(&setters).unwrap();
                answer.raw
            };
            socket.send_to(&answer, from).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn the_mapped_address_is_the_public_ip() {
        let seen: SocketAddr = "203.0.113.9:40000".parse().unwrap();
        let server = stun_server(seen).await;
        let urls = vec!["turn:ignored".to_owned(), format!("stun:{server}")];
        let ip = discover(&urls, "127.0.0.1".parse().unwrap(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(ip, seen.ip());
    }

    #[tokio::test]
    async fn no_server_or_no_answer_is_an_error() {
        assert!(matches!(
            discover(
                &[],
                "127.0.0.1".parse().unwrap(),
                Duration::from_millis(100)
            )
            .await,
            Err(PublicIpError::NoStunServer)
        ));
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("stun:{}", silent.local_addr().unwrap());
        assert!(matches!(
            discover(
                &[url],
                "127.0.0.1".parse().unwrap(),
                Duration::from_millis(600)
            )
            .await,
            Err(PublicIpError::NoAnswer(_))
        ));
    }
}
