//! Signaling scale: 5,000 concurrent users in 500 rooms, with heartbeats, on
//! one `confer serve` process. Prints the server's memory per user, its CPU
//! in steady state, and the latency of a user-update fan-out (a 10th user
//! joins each room; the 9 others each receive UserUpdate Add).
//! Targets: 5,000 users in < 500 MB; fan-out p99 < 20 ms.

mod support;

use futures_util::{SinkExt, StreamExt};
use protocol::{auth, ClientMessage, Credentials, Login, RoomEvent, ServerMessage, UserInfo};
use server::AppConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{pct, ServerProcess, TICKS_PER_SECOND};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

const ROOMS: usize = 500;
const PER_ROOM: usize = 10;
const STEADY: Duration = Duration::from_secs(10);

/// A user-update Add seen by a member: (room index, joined user, when).
type Receipt = (usize, String, Instant);

fn main() {
    support::block_on(run());
}

async fn run() {
    let server = ServerProcess::start("scale").await;
    let (url, app) = (server.url.clone(), server.app.clone());
    let rss_idle = server.rss_kb();

    let (receipts_tx, mut receipts_rx) = mpsc::unbounded_channel::<Receipt>();
    let gate = Arc::new(Semaphore::new(100));
    let app = Arc::new(app);

    // Phase 1: 9 members in each room.
    let started = Instant::now();
    let mut joins = Vec::new();
    for room in 0..ROOMS {
        for member in 0..PER_ROOM - 1 {
            let (url, app, tx, gate) =
                (url.clone(), app.clone(), receipts_tx.clone(), gate.clone());
            joins.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore open");
                let client = Client::login(&url, &app, room, &format!("u{room}-{member}")).await;
                drop(permit);
                tokio::spawn(client.run(room, tx));
            }));
        }
    }
    for j in joins {
        j.await.expect("member joined");
    }
    let phase1 = started.elapsed();

    // Phase 2: the 10th user joins each room; members time the Add.
    let mut sent_at = Vec::with_capacity(ROOMS);
    let mut login_ms = Vec::with_capacity(ROOMS);
    for room in 0..ROOMS {
        let user = format!("u{room}-last");
        let t0 = Instant::now();
        let client = Client::login(&url, &app, room, &user).await;
        login_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        sent_at.push((room, user, t0));
        tokio::spawn(client.run(room, receipts_tx.clone()));
        // Pace joins so each fan-out is measured on its own.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let expected = ROOMS * (PER_ROOM - 1);
    let mut fanout = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fanout.len() < expected {
        let Ok(Some((room, user, at))) =
            tokio::time::timeout_at(deadline, receipts_rx.recv()).await
        else {
            break;
        };
        if let Some((_, _, t0)) = sent_at.iter().find(|(r, u, _)| *r == room && *u == user) {
            fanout.push(at.duration_since(*t0).as_secs_f64() * 1000.0);
        }
    }

    // Steady state: everyone heartbeating.
    let rss_full = server.rss_kb();
    let cpu0 = server.cpu_ticks();
    tokio::time::sleep(STEADY).await;
    let cpu1 = server.cpu_ticks();
    let cpu_percent = (cpu1 - cpu0) as f64 / TICKS_PER_SECOND / STEADY.as_secs_f64() * 100.0;
    let rss_after = server.rss_kb();

    fanout.sort_by(f64::total_cmp);
    login_ms.sort_by(f64::total_cmp);
    let users = ROOMS * PER_ROOM;
    println!("scale_users {users}");
    println!("scale_rooms {ROOMS}");
    println!("scale_phase1_join_seconds {:.2}", phase1.as_secs_f64());
    println!("server_rss_idle_mb {:.1}", rss_idle as f64 / 1024.0);
    println!("server_rss_5000_users_mb {:.1}", rss_full as f64 / 1024.0);
    println!(
        "server_rss_after_steady_mb {:.1}",
        rss_after as f64 / 1024.0
    );
    println!(
        "server_memory_per_user_kb {:.1}",
        (rss_full.saturating_sub(rss_idle)) as f64 / users as f64
    );
    println!("server_cpu_percent_steady {cpu_percent:.1}");
    println!("fanout_samples {} of {expected}", fanout.len());
    println!("fanout_p50_ms {:.3}", pct(&fanout, 0.50));
    println!("fanout_p99_ms {:.3}", pct(&fanout, 0.99));
    println!("login_under_load_p50_ms {:.3}", pct(&login_ms, 0.50));
    println!("login_under_load_p99_ms {:.3}", pct(&login_ms, 0.99));

    server.stop();
    std::process::exit(0);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client {
    ws: Ws,
    heartbeat: Duration,
}

impl Client {
    async fn login(url: &str, app: &AppConfig, room: usize, user: &str) -> Client {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let nonce = match next_message(&mut ws).await {
            ServerMessage::Challenge { nonce, .. } => nonce,
            other => panic!("expected Challenge, got {other:?}"),
        };
        let room_id = format!("room-{room}");
        let proof = auth::login_proof(&app.app_sign, app.app_id, &room_id, user, &nonce);
        let login = ClientMessage::Login(Login {
            version: protocol::PROTOCOL_VERSION,
            app_id: app.app_id,
            room_id,
            user: UserInfo {
                user_id: user.to_owned(),
                user_name: user.to_owned(),
            },
            credentials: Credentials::AppSign { proof },
            notify_users: true,
            max_member_count: 0,
        });
        ws.send(Message::text(login.encode()))
            .await
            .expect("send login");
        match next_message(&mut ws).await {
            ServerMessage::LoginOk(ok) => Client {
                ws,
                heartbeat: Duration::from_millis(ok.heartbeat_interval_ms),
            },
            other => panic!("login failed: {other:?}"),
        }
    }

    async fn run(self, room: usize, receipts: mpsc::UnboundedSender<Receipt>) {
        let (mut tx, mut rx) = self.ws.split();
        let mut tick = tokio::time::interval(self.heartbeat);
        let mut ack = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let hb = ClientMessage::Heartbeat { ack }.encode();
                    if tx.send(Message::text(hb)).await.is_err() { return; }
                }
                msg = rx.next() => {
                    let Some(Ok(Message::Text(text))) = msg else { return };
                    if let Ok(ServerMessage::Event(ev)) = ServerMessage::decode(&text) {
                        ack = ev.seq;
                        if let RoomEvent::UserUpdate { users, .. } = ev.event {
                            let now = Instant::now();
                            for u in users {
                                let _ = receipts.send((room, u.user_id, now));
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn next_message(ws: &mut Ws) -> ServerMessage {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return ServerMessage::decode(&t).expect("valid message"),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}
