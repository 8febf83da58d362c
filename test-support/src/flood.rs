//! A connection flood against a `confer serve` child process: idle TCP
//! connections that never send a request, slowloris connections that send
//! their headers a byte at a time, and a legitimate client checking that
//! `/healthz` and a login keep working meanwhile. Each attacker socket
//! records when the server closed it; a sampler records how many are held
//! open over time.

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, ServerMessage};
use server::{AppConfig, ServerConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// `confer serve` as a child process under an open-file limit.
pub struct ServeProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its app.
    pub app: AppConfig,
    /// Its signaling URL, as it printed it (`ws://` or `wss://`).
    pub url: String,
    /// The TLS certificate fingerprint it printed, if it serves TLS.
    pub fingerprint: Option<String>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ServeProcess {
    /// Starts `confer serve` with `config` (bound to 127.0.0.1:0) under
    /// `ulimit -n nofile`.
    pub async fn start(config: ServerConfig, nofile: u32) -> ServeProcess {
        Self::start_with_args(config, nofile, &[]).await
    }

    /// [`ServeProcess::start`] with more `confer serve` arguments.
    pub async fn start_with_args(
        mut config: ServerConfig,
        nofile: u32,
        args: &[&str],
    ) -> ServeProcess {
        config.bind = "127.0.0.1:0".parse().expect("literal address");
        Self::launch(config, nofile, args, None).await
    }

    /// Starts `confer serve` with `config` as it is (its bind address
    /// included) and `args`, under `ulimit -n nofile`, inside network
    /// namespace `netns` if given.
    pub async fn launch(
        config: ServerConfig,
        nofile: u32,
        args: &[&str],
        netns: Option<&str>,
    ) -> ServeProcess {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "confer-serve-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("server.toml");
        std::fs::write(&path, config.to_toml()).expect("write config");
        let script =
            format!("ulimit -n {nofile} && exec \"$0\" serve --config \"$@\" --log-format json");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "sh"]);
                c
            }
            None => Command::new("sh"),
        };
        let mut child = command
            .args(["-c", &script])
            .arg(crate::cli::confer_bin())
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn confer serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        let mut fingerprint = None;
        let started = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(u) = line.strip_prefix("Confer server listening on ") {
                    url = Some(u.trim().to_owned());
                }
                if let Some(f) = line.trim().strip_prefix("TLS certificate SHA-256: ") {
                    fingerprint = Some(f.to_owned());
                }
                if line.starts_with("Press Ctrl-C") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(started, Ok(true)), "confer serve did not start");
        let url = url.expect("confer serve prints its address");
        let addr = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.trim_end_matches("/ws").parse::<SocketAddr>().ok())
            .expect("an ip:port address");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServeProcess {
            child,
            addr,
            app: config.apps[0].clone(),
            url,
            fingerprint,
            _dir: TempDir(dir),
        }
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Open file descriptors of the server process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// Resident memory of the server process, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// `GET path` from 127.0.0.1; the status line and body.
    pub async fn get(&self, path: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(self.addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: flood\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(out)
    }

    /// Connects over WebSocket from 127.0.0.1 and logs in with the AppSign;
    /// `Err` with what went wrong.
    pub async fn login(&self, room: &str, user: &str) -> Result<(), String> {
        let url = format!("ws://{}/ws", self.addr);
        let (mut ws, _) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
        let nonce = match next_message(&mut ws).await? {
            ServerMessage::Challenge { nonce, .. } => nonce,
            other => return Err(format!("expected Challenge, got {other:?}")),
        };
        let login = ClientMessage::Login(crate::client::login_as(&self.app, room, user, &nonce));
        ws.send(Message::Text(login.encode().into()))
            .await
            .map_err(|e| e.to_string())?;
        let reply = next_message(&mut ws).await;
        match reply {
            Ok(ServerMessage::LoginOk(_)) => {
                let _ = ws.close(None).await;
                Ok(())
            }
            other => Err(format!("expected LoginOk, got {other:?}")),
        }
    }
}

/// The next text message on `ws` (5 s at most).
async fn next_message<S>(ws: &mut S) -> Result<ServerMessage, String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return ServerMessage::decode(t.as_str()).map_err(|e| e.to_string())
            }
            Ok(Some(Ok(_))) => continue,
            other => return Err(format!("{other:?}")),
        }
    }
}

/// What the flood saw.
#[derive(Debug, Default)]
pub struct FloodReport {
    /// `(ms since the flood started, attacker sockets still open)`.
    pub held_open: Vec<(u64, usize)>,
    /// Attacker sockets the server closed, with how long each was open (ms).
    pub closed_after_ms: Vec<u64>,
    /// Attacker sockets answered 503/429 at accept.
    pub refused_at_accept: usize,
    /// Attacker sockets whose connect failed or timed out.
    pub connect_failed: usize,
    /// Attacker sockets still open when the flood gave up waiting.
    pub never_closed: usize,
    /// Legitimate `/healthz` checks, and how many failed (with why).
    pub health_checks: usize,
    /// Legitimate logins tried.
    pub logins: usize,
    /// What failed among the legitimate checks.
    pub failures: Vec<String>,
    /// Server open files and RSS (MiB): before, at the peak, after.
    pub fds: [usize; 3],
    /// Resident memory before, at the peak, after, in MiB.
    pub rss_mib: [f64; 3],
}

/// How the flood is made.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Idle connections (never send a byte).
    pub idle: usize,
    /// Slowloris connections (headers a byte at a time).
    pub slowloris: usize,
    /// Connections per source address (127.0.0.x).
    pub per_source: usize,
    /// Interval between the slowloris bytes.
    pub drip: Duration,
    /// Give up waiting for the server to close everything after this.
    pub deadline: Duration,
    /// When the legitimate checks start.
    pub checks_after: Duration,
}

impl Flood {
    /// Issue 12's flood: 2,000 idle and 300 slowloris connections (a byte
    /// every `drip`), 100 per address, checks from 1 s on, 40 s at most.
    pub fn half_open(drip: Duration) -> Flood {
        Flood {
            idle: 2_000,
            slowloris: 300,
            per_source: 100,
            drip,
            deadline: Duration::from_secs(40),
            checks_after: Duration::from_secs(1),
        }
    }
}

/// Raises this process's open-file limit to its hard limit (the flood needs
/// thousands of sockets).
pub fn raise_own_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// Runs `flood` against `server`, checking `/healthz` and a login from
/// 127.0.0.1 every 400 ms while it lasts.
pub async fn run(server: &ServeProcess, flood: Flood) -> FloodReport {
    raise_own_fd_limit();
    let mut report = FloodReport {
        fds: [server.fds(), 0, 0],
        rss_mib: [server.rss_mib(), 0.0, 0.0],
        ..FloodReport::default()
    };
    let start = Instant::now();
    let open = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..flood.idle + flood.slowloris {
        let slow = i >= flood.idle;
        // Sources 127.0.0.2.. for idle, 127.0.0.130.. for slowloris.
        let block = if slow {
            130 + (i - flood.idle) / flood.per_source
        } else {
            2 + i / flood.per_source
        };
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            u8::try_from(block).expect("< 256 sources"),
        ));
        let (open, outcomes, addr, drip) = (
            Arc::clone(&open),
            Arc::clone(&outcomes),
            server.addr,
            flood.drip,
        );
        tasks.push(tokio::spawn(async move {
            let outcome = attack(source, addr, slow, drip, &open).await;
            outcomes.lock().expect("outcomes").push(outcome);
        }));
        if i % 200 == 199 {
            tokio::task::yield_now().await;
        }
    }
    // A newcomer is refused while every connection holding the server is
    // younger than the eviction age; from then on it must always get in.
    let mut next_check = Instant::now() + flood.checks_after;
    let mut round = 0usize;
    loop {
        let held = open.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        report.held_open.push((ms(elapsed), held));
        report.fds[1] = report.fds[1].max(server.fds());
        report.rss_mib[1] = report.rss_mib[1].max(server.rss_mib());
        let finished = tasks.iter().all(|t| t.is_finished());
        if finished || elapsed >= flood.deadline {
            break;
        }
        if Instant::now() >= next_check {
            round += 1;
            report.health_checks += 1;
            match server.get("/healthz").await {
                Ok(r) if r.starts_with("HTTP/1.1 200") => {}
                Ok(r) => report
                    .failures
                    .push(format!("healthz: {}", r.lines().next().unwrap_or(""))),
                Err(e) => report.failures.push(format!("healthz: {e}")),
            }
            report.logins += 1;
            if let Err(e) = server.login("legit-room", &format!("legit{round}")).await {
                report.failures.push(format!("login: {e}"));
            }
            next_check = Instant::now() + Duration::from_millis(400);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in &tasks {
        t.abort();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    for o in outcomes {
        match o {
            Outcome::Closed(after) => report.closed_after_ms.push(ms(after)),
            Outcome::Refused => report.refused_at_accept += 1,
            Outcome::ConnectFailed => report.connect_failed += 1,
        }
    }
    report.never_closed = flood.idle + flood.slowloris
        - report.closed_after_ms.len()
        - report.refused_at_accept
        - report.connect_failed;
    // Let lingering closes finish before the "after" reading.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    report.fds[2] = server.fds();
    report.rss_mib[2] = server.rss_mib();
    report
}

enum Outcome {
    /// The server closed it after this long.
    Closed(Duration),
    /// Answered 503/429 at once.
    Refused,
    /// Could not connect.
    ConnectFailed,
}

async fn attack(
    source: IpAddr,
    addr: SocketAddr,
    slow: bool,
    drip: Duration,
    open: &AtomicUsize,
) -> Outcome {
    let connect = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(addr).await
    };
    let Ok(Ok(mut tcp)) = tokio::time::timeout(Duration::from_secs(10), connect).await else {
        return Outcome::ConnectFailed;
    };
    let opened = Instant::now();
    open.fetch_add(1, Ordering::Relaxed);
    let mut first = Vec::new();
    let mut buf = [0u8; 512];
    let request = b"GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Slow: ";
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(drip);
    loop {
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    first.extend_from_slice(&buf[..n]);
                }
                _ => break,
            },
            _ = tick.tick(), if slow => {
                let byte = request.get(sent).copied().unwrap_or(b'x');
                if tcp.write_all(&[byte]).await.is_err() {
                    break;
                }
                sent += 1;
            }
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
    if first.starts_with(b"HTTP/1.1 503") || first.starts_with(b"HTTP/1.1 429") {
        Outcome::Refused
    } else {
        Outcome::Closed(opened.elapsed())
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
