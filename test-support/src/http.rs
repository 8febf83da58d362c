//! One HTTP request to the server over a fresh connection and its answer
//! (status, head, JSON body): what the server API and WHIP/WHEP tests send
//! by hand to see every status and typed error code.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a request may wait for the whole answer.
const ANSWER_WAIT: Duration = Duration::from_secs(15);

/// An HTTP answer: status, head and JSON body (`Null` when not JSON).
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The status line and headers, lowercased.
    pub head: String,
    /// The body as JSON, `Null` when it is not JSON.
    pub body: Value,
}

impl Answer {
    /// The typed error code in the body (`0` when there is none).
    pub fn code(&self) -> u64 {
        self.body["code"].as_u64().unwrap_or(0)
    }
}

/// Sends `method path` to `addr` with `content_type`, `body` and an
/// optional bearer `token` over a fresh connection (`Connection: close`)
/// and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("connects");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The server may answer (413, 431) before it reads all of a large request.
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    tokio::time::timeout(ANSWER_WAIT, s.read_to_end(&mut out))
        .await
        .expect("answer within 15 s")
        .expect("reads the answer");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}
