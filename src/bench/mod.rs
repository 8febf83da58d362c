//! `confer bench`: a load test against any Confer server, like LiveKit's
//! `lk perf load-test`. N rooms, each with M publishers and K players that
//! play every publisher of their room, for S seconds:
//!
//! - Publishers publish over WHIP and replay a loop of test-pattern frames
//!   (barcode with the frame number) encoded once at start: no encoder per
//!   publisher. Players play over WHEP and recognise each frame of the loop
//!   by its bytes (no decoder per player), for the publisher-to-player
//!   latency (both ends are in this process, on one clock).
//! - Tokens come from the server API (`mint_token`, with `--admin-token`
//!   or an admin token minted from the app's server secret).
//! - Prints one line per player and stream (fps, kbit/s, latency p50/p99),
//!   then one figure per line: join p50/p99 (the WHIP/WHEP POST: token
//!   check, login, negotiation), fan-out latency p50/p99 over every frame,
//!   the mean player fps, and the server's CPU and RSS when it runs here
//!   (`--server-pid`, or the one local `confer serve` on the URL's port).
//! - Sessions start `--concurrency` at a time (a ramp, not a flood), a
//!   room's players once its publishers are connected. A publish or play
//!   that fails is counted (`publish_failed`, `play_failed`, the first
//!   errors on stderr) and the bench goes on with the others.
//! - Several nodes: `--entry URL` (repeated) spreads the first POSTs over
//!   the nodes, as a load balancer would: the `i`-th session of room `r`
//!   (publishers, then players) enters at node `(r + i) % nodes`. A node
//!   that does not hold the room redirects (307) to the one that does,
//!   followed at most 3 times (`redirects_followed`). Each node's CPU and
//!   RSS is printed, and their sums.
//! - `--janus`: the same rooms, media and counting against Janus's
//!   videoroom plugin (its HTTP API at --server, e.g.
//!   `http://127.0.0.1:8088/janus`; no tokens, --admin-token is not used):
//!   a side-by-side fan-out figure (`janus.rs`). Its CPU and RSS with
//!   `--server-pid`.

mod janus;
mod media;
mod peer;
mod report;

use crate::admin::ApiArgs;
use anyhow::{anyhow, bail};
use clap::Args;
use media::Clip;
use peer::{Counting, SendTimes, Session, Signaling, Target};
use report::{cpu_and_rss, percentile, proc_sample, PlayerStats, ProcSample};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Frames in the replayed loop (one keyframe each time round).
const LOOP_FRAMES: u32 = 60;
/// How long players get to connect and see a keyframe before counting.
const WARMUP: Duration = Duration::from_secs(2);
/// Lifetime of the bench's login tokens.
const TOKEN_TTL_SECS: u64 = 3600;
/// How long a publisher may take to connect before its room's players
/// start anyway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Errors printed on stderr (the rest are only counted).
const ERRORS_SHOWN: usize = 5;

/// Arguments of `confer bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Rooms.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Publishers per room.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Players per room (each plays every publisher of its room).
    #[arg(long, default_value_t = 2)]
    players: usize,
    /// Seconds of media counted (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Sessions started at once (the ramp).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Nodes the rooms' POSTs go to first, round robin by room (http://
    /// URLs; default: --server). Repeat for several nodes.
    #[arg(long = "entry")]
    entries: Vec<String>,
    /// The server's pid, for its CPU and RSS; repeat for several nodes
    /// (default: the one local `confer serve` on each entry's port).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Picture size of the loop (WxH).
    #[arg(long, default_value = "320x180")]
    size: String,
    /// Frame rate of the loop.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Bitrate the loop is encoded at, kbit/s.
    #[arg(long, default_value_t = 300)]
    kbps: u32,
    /// Local address media binds to.
    #[arg(long, default_value = "127.0.0.1")]
    media_ip: IpAddr,
    /// --server is Janus's HTTP API (e.g. http://127.0.0.1:8088/janus):
    /// the rooms are videoroom rooms, joined without tokens.
    #[arg(long)]
    janus: bool,
}

/// One player of one stream.
struct Played {
    user: String,
    stream_id: String,
    stats: Arc<Mutex<PlayerStats>>,
}

/// A live publisher: its room, stream, and send times.
struct Published {
    room: usize,
    stream_id: String,
    sent: SendTimes,
    /// Janus's feed ID of the stream.
    feed: Option<u64>,
}

/// What the sessions' start-up gave: who is live, and what failed.
#[derive(Default)]
struct Started {
    sessions: Vec<(Session, String)>,
    joins: Vec<Duration>,
    redirects: usize,
    failed: usize,
    errors: Vec<String>,
}

impl Started {
    fn add(&mut self, session: Session, token: String) {
        self.joins.push(session.join);
        self.redirects += session.redirects;
        self.sessions.push((session, token));
    }

    fn fail(&mut self, what: &str, error: &anyhow::Error) {
        self.failed += 1;
        if self.errors.len() < ERRORS_SHOWN {
            self.errors.push(format!("{what}: {error:#}"));
        }
    }
}

/// `host:port` of an http:// URL.
fn authority_of(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url}: the bench needs http:// URLs"))?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// Runs the bench and prints its figures.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let api_authority = authority_of(args.api.server())?;
    let entries = if args.entries.is_empty() {
        vec![api_authority]
    } else {
        args.entries
            .iter()
            .map(|e| authority_of(e))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let pids: Vec<(String, u32)> = if args.server_pids.is_empty() {
        entries
            .iter()
            .filter_map(|a| {
                let port = a.rsplit_once(':')?.1.parse().ok()?;
                Some((a.clone(), report::find_server_pid(port)?))
            })
            .collect()
    } else {
        args.server_pids
            .iter()
            .map(|&pid| (format!("pid-{pid}"), pid))
            .collect()
    };
    let targets: Vec<Target> = entries
        .iter()
        .map(|authority| Target {
            authority: authority.clone(),
            bind_ip: args.media_ip,
        })
        .collect();
    let (width, height) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| anyhow!("--size must be WxH, e.g. 320x180"))?;
    if args.rooms == 0 || args.publishers == 0 || args.seconds == 0 || args.concurrency == 0 {
        bail!("--rooms, --publishers, --seconds and --concurrency must be at least 1");
    }
    let clip = Arc::new(Clip::encode(
        width,
        height,
        args.fps,
        args.kbps,
        LOOP_FRAMES,
    )?);
    let epoch = Instant::now();
    let window = Duration::from_secs(args.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let api = Arc::new(args.api);
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let ramp = Instant::now();
    let mut janus_rooms = Vec::new();
    if args.janus {
        let base = api.server().trim_end_matches('/');
        let base = base
            .find("://")
            .and_then(|at| base[at + 3..].find('/').map(|p| &base[at + 3 + p..]))
            .unwrap_or("/janus")
            .to_owned();
        let first: u64 = u64::from(rand::random::<u32>()) * 1000;
        for r in 0..args.rooms {
            let room = janus::Room::create(
                &targets[0].authority,
                &base,
                first + r as u64,
                args.publishers,
            )
            .await?;
            janus_rooms.push(Arc::new(room));
        }
    }

    // Publishers first, each held in the ramp until connected (or given up
    // on), so no player waits on a publisher still negotiating.
    let mut tasks = JoinSet::new();
    for r in 0..args.rooms {
        for p in 0..args.publishers {
            let (api, gate, clip, stop) = (
                Arc::clone(&api),
                Arc::clone(&gate),
                Arc::clone(&clip),
                Arc::clone(&stop),
            );
            let target = targets[(r + p) % targets.len()].clone();
            let janus_room = janus_rooms.get(r).cloned();
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let room = format!("bench-{r}");
                let user = format!("bench-{r}-pub-{p}");
                let stream_id = format!("bench-{r}-cam-{p}");
                let started = async {
                    let janus = janus_room.as_deref();
                    let token = token_for(&api, janus, &user, &room, true).await?;
                    let via = Signaling::choose(janus, &token, &room);
                    let (mut session, sent, feed) =
                        peer::publish(&target, via, &stream_id, clip, epoch, stop).await?;
                    if !session.connected(CONNECT_TIMEOUT).await {
                        session.end(&token).await;
                        bail!("not connected within {CONNECT_TIMEOUT:?}");
                    }
                    anyhow::Ok((session, token, sent, feed))
                }
                .await;
                (r, stream_id, started)
            });
        }
    }
    let mut publishers = Started::default();
    let mut live: Vec<Published> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (room, stream_id, started) = joined?;
        match started {
            Ok((session, token, sent, feed)) => {
                publishers.add(session, token);
                live.push(Published {
                    room,
                    stream_id,
                    sent,
                    feed,
                });
            }
            Err(e) => publishers.fail(&format!("publishing {stream_id}"), &e),
        }
    }

    // Then every player of every live stream.
    let mut tasks = JoinSet::new();
    for published in &live {
        let r = published.room;
        for k in 0..args.players {
            // One WHEP session per stream: a user ID per stream played
            // (a second login of a user replaces the first).
            let user = format!("bench-{r}-play-{k}");
            let viewer = if args.publishers == 1 {
                user.clone()
            } else {
                format!("{user}-{}", published.stream_id)
            };
            let stats = Arc::new(Mutex::new(PlayerStats::default()));
            let counting = Counting {
                clip: Arc::clone(&clip),
                sent: Arc::clone(&published.sent),
                epoch,
                stats: Arc::clone(&stats),
            };
            let (api, gate) = (Arc::clone(&api), Arc::clone(&gate));
            let target = targets[(r + args.publishers + k) % targets.len()].clone();
            let stream_id = published.stream_id.clone();
            let (janus_room, feed) = (janus_rooms.get(r).cloned(), published.feed);
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let room = format!("bench-{r}");
                let started = async {
                    let janus = janus_room.as_deref();
                    let token = token_for(&api, janus, &viewer, &room, false).await?;
                    let via = Signaling::choose(janus, &token, &room);
                    let session = peer::play(&target, via, &stream_id, feed, counting).await?;
                    anyhow::Ok((session, token))
                }
                .await;
                let played = Played {
                    user,
                    stream_id,
                    stats,
                };
                (played, viewer, started)
            });
        }
    }
    let mut players = Started::default();
    let mut played = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (p, viewer, started) = joined?;
        match started {
            Ok((session, token)) => {
                players.add(session, token);
                played.push(p);
            }
            Err(e) => players.fail(&format!("playing {} as {viewer}", p.stream_id), &e),
        }
    }
    let ramp = ramp.elapsed();
    for error in publishers.errors.iter().chain(&players.errors) {
        eprintln!("bench: {error}");
    }

    tokio::time::sleep(WARMUP).await;
    for p in &played {
        *lock(&p.stats) = PlayerStats::default();
    }
    let sample = |pids: &[(String, u32)]| -> Vec<Option<ProcSample>> {
        pids.iter().map(|&(_, pid)| proc_sample(pid)).collect()
    };
    let before = sample(&pids);
    let bench_before = proc_sample(std::process::id());
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let measured = started.elapsed();
    let after = sample(&pids);
    let bench_after = proc_sample(std::process::id());

    let mut all_latencies = Vec::new();
    let mut fps_sum = 0.0;
    let mut silent = 0;
    for p in &played {
        let mut stats = lock(&p.stats);
        let fps = stats.fps(measured);
        fps_sum += fps;
        if stats.frames == 0 {
            silent += 1;
        }
        let kbps = stats.kbps(measured);
        let p50 = percentile(&mut stats.latencies_us, 50.0).map_or(-1.0, ms);
        let p99 = percentile(&mut stats.latencies_us, 99.0).map_or(-1.0, ms);
        println!(
            "player {} stream {} fps {fps:.1} kbps {kbps:.0} latency_p50_ms {p50:.1} latency_p99_ms {p99:.1}",
            p.user, p.stream_id
        );
        all_latencies.extend_from_slice(&stats.latencies_us);
    }
    let mut join_us: Vec<u64> = publishers
        .joins
        .iter()
        .chain(&players.joins)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .collect();
    println!("bench_rooms {}", args.rooms);
    println!("bench_entry_nodes {}", targets.len());
    println!("bench_publishers {}", publishers.sessions.len());
    println!("bench_players {}", played.len());
    println!("publish_failed {}", publishers.failed);
    println!("play_failed {}", players.failed);
    println!("players_without_frames {silent}");
    println!(
        "redirects_followed {}",
        publishers.redirects + players.redirects
    );
    println!("ramp_s {:.1}", ramp.as_secs_f64());
    println!(
        "join_p50_ms {:.1}",
        percentile(&mut join_us, 50.0).map_or(-1.0, ms)
    );
    println!(
        "join_p99_ms {:.1}",
        percentile(&mut join_us, 99.0).map_or(-1.0, ms)
    );
    println!(
        "fanout_latency_p50_ms {:.1}",
        percentile(&mut all_latencies, 50.0).map_or(-1.0, ms)
    );
    println!(
        "fanout_latency_p99_ms {:.1}",
        percentile(&mut all_latencies, 99.0).map_or(-1.0, ms)
    );
    println!(
        "player_fps_mean {:.1}",
        fps_sum / played.len().max(1) as f64
    );
    let (mut cpu_sum, mut rss_sum, mut nodes) = (0.0, 0.0, 0);
    for ((name, _), (before, after)) in pids.iter().zip(before.into_iter().zip(after)) {
        if let (Some(before), Some(after)) = (before, after) {
            let (cpu, rss) = cpu_and_rss(before, after, measured);
            println!("node {name} cpu_percent {cpu:.1} rss_mb {rss:.1}");
            cpu_sum += cpu;
            rss_sum += rss;
            nodes += 1;
        }
    }
    if nodes > 0 {
        println!("server_nodes {nodes}");
        println!("server_cpu_percent {cpu_sum:.1}");
        println!("server_rss_mb {rss_sum:.1}");
    } else {
        println!("server_cpu_percent n/a (not a local process; --server-pid)");
    }
    if let (Some(before), Some(after)) = (bench_before, bench_after) {
        let (cpu, rss) = cpu_and_rss(before, after, measured);
        println!("bench_cpu_percent {cpu:.1}");
        println!("bench_rss_mb {rss:.1}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut ends = JoinSet::new();
    for (session, token) in publishers.sessions.into_iter().chain(players.sessions) {
        let gate = Arc::clone(&gate);
        ends.spawn(async move {
            let _permit = gate.acquire_owned().await;
            session.end(&token).await;
        });
    }
    while ends.join_next().await.is_some() {}
    for room in janus_rooms {
        if let Some(room) = Arc::into_inner(room) {
            room.close().await;
        }
    }
    Ok(())
}

/// The login token a session needs: none against Janus (its rooms are
/// open), else one minted for `user` in `room`.
async fn token_for(
    api: &ApiArgs,
    janus: Option<&janus::Room>,
    user: &str,
    room: &str,
    publish: bool,
) -> anyhow::Result<String> {
    match janus {
        Some(_) => Ok(String::new()),
        None => mint(api, user, room, publish).await,
    }
}

/// A login token for `user` in `room` from the server API.
async fn mint(api: &ApiArgs, user: &str, room: &str, publish: bool) -> anyhow::Result<String> {
    let body = serde_json::json!({
        "user_id": user,
        "room_id": room,
        "ttl_secs": TOKEN_TTL_SECS,
        "publish": publish,
    });
    let answer = crate::admin::call(api, "mint_token", &body).await?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("mint_token answered without a token"))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
