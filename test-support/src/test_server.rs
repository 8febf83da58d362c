//! A real server on an ephemeral loopback port (127.0.0.1:0) with a
//! generated local config: what every system test runs against, whether it
//! drives SDK `Peer`s (feature `sdk`) or a raw protocol
//! [`Client`](crate::client::Client).

use crate::unix_now;
use protocol::token::{self, Privileges, TokenClaims};
use server::{AppConfig, ServerConfig, ServerHandle};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::WAIT;

/// A real server on an ephemeral loopback port.
pub struct TestServer {
    /// The running server.
    pub handle: ServerHandle,
    /// The app registered on it.
    pub app: AppConfig,
    /// Its signaling URL.
    pub url: String,
}

impl TestServer {
    /// Starts with the local default config on 127.0.0.1:0.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts after `tweak` adjusts the config.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        // Logs for debugging a failure: RUST_LOG=media_core=debug,server=debug.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut config = ServerConfig::generate_local();
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        tweak(&mut config);
        let app = config.apps[0].clone();
        let handle = server::start(config).await.expect("server starts");
        let url = handle.ws_url();
        TestServer { handle, app, url }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Its HTTP base URL.
    pub fn http_url(&self) -> String {
        self.handle.http_url()
    }

    /// A token for this app signed with its server secret: for `room` (any
    /// room: `None`), valid `ttl` seconds from now, or, with a negative
    /// `ttl`, issued two hours ago and expired `-ttl` seconds ago.
    pub fn token(
        &self,
        user: &str,
        room: Option<&str>,
        privileges: Privileges,
        ttl: i64,
    ) -> String {
        let now = unix_now();
        let mut claims = TokenClaims::new(
            self.app.app_id,
            user,
            room.map(str::to_owned),
            privileges,
            now,
            ttl.max(0) as u64,
        );
        if ttl < 0 {
            claims.iat = now - 7200;
            claims.exp = now - ttl.unsigned_abs();
        }
        token::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// A token for `user` (any room) with `privileges`, issued `age` seconds
    /// ago and valid for `ttl` seconds from then.
    pub fn aged_token(&self, user: &str, privileges: Privileges, age: u64, ttl: u64) -> String {
        let issued = unix_now() - age;
        let claims = TokenClaims::new(self.app.app_id, user, None, privileges, issued, ttl);
        token::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// A login JWT (HS256) for this app signed with its server secret: for
    /// `room` (any room: `None`), valid `ttl` seconds from now.
    pub fn jwt(&self, user: &str, room: Option<&str>, privileges: Privileges, ttl: u64) -> String {
        let claims = TokenClaims::new(
            self.app.app_id,
            user,
            room.map(str::to_owned),
            privileges,
            unix_now(),
            ttl,
        );
        server::jwt::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// An invite for `room` (any user ID), valid `ttl` seconds.
    pub fn invite(&self, room: &str, ttl: u64) -> String {
        let claims = TokenClaims::invite(self.app.app_id, room, Privileges::ALL, unix_now(), ttl);
        token::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// GETs `path`, asserts a 200 and returns the whole response.
    pub async fn http_get_ok(&self, path: &str) -> String {
        let response = self.http_get(path).await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "GET {path}: {response}"
        );
        response
    }

    /// GETs `path` over a fresh connection (`Connection: close`) and returns
    /// the whole response, head and body.
    pub async fn http_get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(self.addr()).await.expect("connects");
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .expect("sends the request");
        let mut out = String::new();
        tokio::time::timeout(WAIT, s.read_to_string(&mut out))
            .await
            .expect("response within the wait")
            .expect("reads the response");
        out
    }

    /// Graceful shutdown.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
