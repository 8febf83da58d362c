//! Several `confer serve` nodes on one Redis, as child processes: a
//! private `redis-server` on a free loopback port without persistence
//! ([`Redis`]), nodes started on it ([`serve_node`], SIGKILL-able), and a
//! front door per client ([`Front`]) that forwards each connection to the
//! first node of its list that accepts it, as a load balancer would.
//!
//! [`Redis::start`] returns `None` (after [`crate::skip`]) where there is
//! no `redis-server`.

use crate::flood::ServeProcess;
use server::ServerConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// How long a child process may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A private `redis-server` (no RDB, no AOF) on a loopback port.
pub struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    /// Starts one on a free port, or skips `test` where there is no
    /// `redis-server`.
    pub async fn start(test: &str) -> Option<Redis> {
        if which("redis-server").is_none() {
            crate::skip(test, "redis-server is not installed (scripts/deps.sh)");
            return None;
        }
        let port = free_port();
        Some(Redis {
            port,
            child: spawn_redis(port).await,
        })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: everything is gone) and starts an empty one on the
    /// same port after `down`.
    pub async fn restart(&mut self, down: Duration) {
        let _ = self.child.kill().await;
        tokio::time::sleep(down).await;
        self.child = spawn_redis(self.port).await;
    }

    /// Runs `redis-cli` with `args` on it and returns its output, trimmed.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-raw"])
            .args(args)
            .output()
            .await
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

async fn spawn_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let up = tokio::time::timeout(START_TIMEOUT, async {
        while TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(up.is_ok(), "redis-server did not listen on {addr}");
    child
}

/// `confer serve` as one node on `redis` with a lease of `lease_ms` and
/// `config` (its app, heartbeat timing, its bind address: port 0 for any),
/// media on loopback.
pub async fn serve_node(config: &ServerConfig, redis: &Redis, lease_ms: u64) -> ServeProcess {
    let lease = lease_ms.to_string();
    let args = [
        "--redis",
        &redis.url(),
        "--node-lease-ms",
        &lease,
        "--media-ip",
        "127.0.0.1",
    ];
    ServeProcess::launch(config.clone(), 4096, &args, None).await
}

/// SIGKILL to `node`: no goodbye, its lease stays in Redis until it runs out.
pub fn kill_node(node: &ServeProcess) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &node.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL: {status:?}");
}

/// A front door on loopback: each connection goes to the first of
/// `nodes` that accepts it (a dead node refuses at once).
pub struct Front {
    /// Its signaling URL.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    /// Starts forwarding to `nodes`, in order of preference.
    pub async fn start(nodes: Vec<SocketAddr>) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
        let url = format!("ws://{}/ws", listener.local_addr().expect("front addr"));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let nodes = nodes.clone();
                tokio::spawn(async move {
                    for node in nodes {
                        if let Ok(mut outbound) = TcpStream::connect(node).await {
                            let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Front { url, task }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A free loopback TCP port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `name` on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}
