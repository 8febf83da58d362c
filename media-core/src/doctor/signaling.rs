//! The signaling steps of a diagnosis: DNS, TCP, TLS, the WebSocket
//! upgrade and a login, each on its own so a failure names the layer.

use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use protocol::auth::login_proof;
use protocol::{ClientMessage, Credentials, ErrorCode, Login, LoginOk, ServerMessage, UserInfo};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async_tls_with_config, Connector};

use super::{Check, DoctorOptions, Step};
use crate::room::tls::{client_config, fatal_connect_error, tls_io_code};

/// Where the signaling URL points.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

fn target(url: &str) -> Result<Target, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        other => return Err(format!("{url}: scheme {other:?} is not ws or wss")),
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("{url}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Target { host, port, tls })
}

/// Runs DNS, TCP, TLS, WebSocket and login, reporting each through
/// `report` (which says whether to go on); the login's answer when all
/// passed.
pub(super) async fn run(
    options: &DoctorOptions,
    mut report: impl FnMut(Check) -> bool,
) -> Option<LoginOk> {
    let url = options.profile.server.as_str();
    let limit = options.step_timeout;
    let started = Instant::now();
    let target = match target(url) {
        Ok(t) => t,
        Err(e) => {
            report(Check::fail(
                Step::Dns,
                url,
                ErrorCode::InvalidServerUrl,
                e,
                started,
            ));
            return None;
        }
    };
    let host_port = format!("{}:{}", target.host, target.port);

    // DNS.
    let started = Instant::now();
    let lookup = timeout(limit, tokio::net::lookup_host(host_port.clone())).await;
    let addrs: Vec<_> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            report(Check::fail(
                Step::Dns,
                &host_port,
                ErrorCode::HostNotFound,
                e.to_string(),
                started,
            ));
            return None;
        }
        Err(_) => Vec::new(),
    };
    if addrs.is_empty() {
        report(Check::fail(
            Step::Dns,
            &host_port,
            ErrorCode::HostNotFound,
            "no address",
            started,
        ));
        return None;
    }
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    if !report(Check::pass(
        Step::Dns,
        &host_port,
        shown.join(", "),
        started,
    )) {
        return None;
    }

    // TCP: the first address that accepts.
    let started = Instant::now();
    let mut stream = None;
    let mut last_error = String::from("timed out");
    for addr in &addrs {
        match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some((s, *addr));
                break;
            }
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => last_error = format!("{addr}: timed out after {} ms", limit.as_millis()),
        }
    }
    let Some((stream, addr)) = stream else {
        report(Check::fail(
            Step::Tcp,
            &host_port,
            ErrorCode::ServerUnreachable,
            last_error,
            started,
        ));
        return None;
    };
    if !report(Check::pass(
        Step::Tcp,
        addr.to_string(),
        "connected",
        started,
    )) {
        return None;
    }

    // TLS, on that connection.
    let tls = match client_config(&options.profile.tls) {
        Ok(config) => config,
        Err(code) => {
            report(Check::fail(
                Step::Tls,
                &host_port,
                code,
                code.message(),
                Instant::now(),
            ));
            return None;
        }
    };
    if target.tls {
        let started = Instant::now();
        let outcome = match rustls::pki_types::ServerName::try_from(target.host.clone()) {
            Ok(name) => timeout(
                limit,
                tokio_rustls::TlsConnector::from(Arc::clone(&tls)).connect(name, stream),
            )
            .await
            .map_err(|_| (ErrorCode::TlsFailed, "timed out".to_owned()))
            .and_then(|r| r.map_err(|e| (tls_io_code(&e), e.to_string()))),
            Err(e) => Err((ErrorCode::InvalidServerUrl, e.to_string())),
        };
        match outcome {
            Ok(session) => {
                let detail = session
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| format!("certificate SHA-256 {}", fingerprint(c.as_ref())))
                    .unwrap_or_else(|| "handshake done".to_owned());
                if !report(Check::pass(Step::Tls, &host_port, detail, started)) {
                    return None;
                }
            }
            Err((code, detail)) => {
                report(Check::fail(Step::Tls, &host_port, code, detail, started));
                return None;
            }
        }
    } else {
        drop(stream);
    }

    // WebSocket upgrade, then the login on it.
    let started = Instant::now();
    let connected = timeout(
        limit,
        connect_async_tls_with_config(url, None, false, Some(Connector::Rustls(tls))),
    )
    .await;
    let mut ws = match connected {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            let code = fatal_connect_error(&e).unwrap_or(ErrorCode::WebSocketRejected);
            report(Check::fail(
                Step::Websocket,
                url,
                code,
                e.to_string(),
                started,
            ));
            return None;
        }
        Err(_) => {
            report(Check::fail(
                Step::Websocket,
                url,
                ErrorCode::WebSocketRejected,
                "timed out",
                started,
            ));
            return None;
        }
    };
    if !report(Check::pass(Step::Websocket, url, "upgraded", started)) {
        return None;
    }

    let started = Instant::now();
    let answer = timeout(limit, async {
        let nonce = loop {
            match next_message(&mut ws).await? {
                ServerMessage::Challenge { nonce, .. } => break nonce,
                _ => continue,
            }
        };
        let login = login_message(options, &nonce);
        ws.send(Message::text(login.encode()))
            .await
            .map_err(|e| (ErrorCode::NetworkInterrupted, e.to_string()))?;
        loop {
            match next_message(&mut ws).await? {
                ServerMessage::LoginOk(ok) => return Ok(ok),
                ServerMessage::LoginFailed { code, message } => return Err((code, message)),
                _ => continue,
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        Err((
            ErrorCode::RequestTimeout,
            "no answer to the login".to_owned(),
        ))
    });
    let result = match answer {
        Ok(ok) => {
            let detail = format!(
                "room {} joined; {} ICE server(s) handed out",
                ok.room_id,
                ok.ice_servers.len()
            );
            let logout = ClientMessage::Logout { request_id: 1 };
            let _ = ws.send(Message::text(logout.encode())).await;
            report(Check::pass(Step::Login, url, detail, started)).then_some(ok)
        }
        Err((code, message)) => {
            report(Check::fail(Step::Login, url, code, message, started));
            None
        }
    };
    let _ = ws.close(None).await;
    result
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The next server message, skipping pings and other frames.
async fn next_message(ws: &mut Socket) -> Result<ServerMessage, (ErrorCode, String)> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return ServerMessage::decode(&text)
                    .map_err(|e| (ErrorCode::MalformedMessage, e.to_string()));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err((ErrorCode::NetworkInterrupted, e.to_string())),
            None => {
                return Err((
                    ErrorCode::NetworkInterrupted,
                    "the server closed the connection".to_owned(),
                ))
            }
        }
    }
}

fn login_message(options: &DoctorOptions, nonce: &str) -> ClientMessage {
    let p = &options.profile;
    let credentials = match &options.token {
        Some(token) => Credentials::Token {
            token: token.clone(),
        },
        None => Credentials::AppSign {
            proof: login_proof(
                &p.app_sign,
                p.app_id,
                &options.room_id,
                &options.user_id,
                nonce,
            ),
        },
    };
    ClientMessage::Login(Login {
        version: protocol::PROTOCOL_VERSION,
        app_id: p.app_id,
        room_id: options.room_id.clone(),
        user: UserInfo {
            user_id: options.user_id.clone(),
            user_name: "confer doctor".to_owned(),
        },
        credentials,
        notify_users: false,
        max_member_count: 0,
    })
}

/// Colon hex SHA-256 of a certificate, as servers print it.
fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
