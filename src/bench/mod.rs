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

mod media;
mod peer;
mod report;

use crate::admin::ApiArgs;
use anyhow::{anyhow, bail, Context};
use clap::Args;
use media::Clip;
use peer::{Counting, Session, Target};
use report::{cpu_and_rss, percentile, proc_sample, PlayerStats};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames in the replayed loop (one keyframe each time round).
const LOOP_FRAMES: u32 = 60;
/// How long players get to connect and see a keyframe before counting.
const WARMUP: Duration = Duration::from_secs(2);
/// Lifetime of the bench's login tokens.
const TOKEN_TTL_SECS: u64 = 3600;

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
    /// The server's pid, for its CPU and RSS (default: the one local
    /// `confer serve` on the URL's port, if any).
    #[arg(long)]
    server_pid: Option<u32>,
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
}

/// One player of one stream.
struct Played {
    user: String,
    stream_id: String,
    stats: Arc<Mutex<PlayerStats>>,
}

/// Runs the bench and prints its figures.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let base = args.api.server().trim_end_matches('/');
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--server must be an http:// URL"))?
        .to_owned();
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let pid = args
        .server_pid
        .or_else(|| port.and_then(report::find_server_pid));
    let target = Target {
        authority,
        bind_ip: args.media_ip,
    };
    let (width, height) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| anyhow!("--size must be WxH, e.g. 320x180"))?;
    if args.rooms == 0 || args.publishers == 0 || args.seconds == 0 {
        bail!("--rooms, --publishers and --seconds must be at least 1");
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

    let mut joins = Vec::new();
    let mut sessions: Vec<(Session, String)> = Vec::new();
    let mut played = Vec::new();
    for r in 0..args.rooms {
        let room = format!("bench-{r}");
        let mut sent_times = Vec::new();
        for p in 0..args.publishers {
            let user = format!("bench-{r}-pub-{p}");
            let stream_id = format!("bench-{r}-cam-{p}");
            let token = mint(&args.api, &user, &room, true).await?;
            let (session, sent) = peer::publish(
                &target,
                &token,
                &room,
                &stream_id,
                Arc::clone(&clip),
                epoch,
                Arc::clone(&stop),
            )
            .await
            .with_context(|| format!("publishing {stream_id}"))?;
            joins.push(session.join);
            sessions.push((session, token));
            sent_times.push((stream_id, sent));
        }
        for k in 0..args.players {
            let user = format!("bench-{r}-play-{k}");
            let token = mint(&args.api, &user, &room, false).await?;
            for (stream_id, sent) in &sent_times {
                let stats = Arc::new(Mutex::new(PlayerStats::default()));
                let counting = Counting {
                    clip: Arc::clone(&clip),
                    sent: Arc::clone(sent),
                    epoch,
                    stats: Arc::clone(&stats),
                };
                // One WHEP session per stream: a user ID per stream played
                // (a second login of a user replaces the first).
                let viewer = format!("{user}-{stream_id}");
                let token = if args.publishers == 1 {
                    token.clone()
                } else {
                    mint(&args.api, &viewer, &room, false).await?
                };
                let session = peer::play(&target, &token, &room, stream_id, counting)
                    .await
                    .with_context(|| format!("playing {stream_id} as {viewer}"))?;
                joins.push(session.join);
                sessions.push((session, token));
                played.push(Played {
                    user: user.clone(),
                    stream_id: stream_id.clone(),
                    stats,
                });
            }
        }
    }

    tokio::time::sleep(WARMUP).await;
    for p in &played {
        *lock(&p.stats) = PlayerStats::default();
    }
    let before = pid.and_then(proc_sample);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let measured = started.elapsed();
    let after = pid.and_then(proc_sample);

    let mut all_latencies = Vec::new();
    let mut fps_sum = 0.0;
    for p in &played {
        let mut stats = lock(&p.stats);
        let fps = stats.fps(measured);
        fps_sum += fps;
        let kbps = stats.kbps(measured);
        let p50 = percentile(&mut stats.latencies_us, 50.0).map_or(-1.0, ms);
        let p99 = percentile(&mut stats.latencies_us, 99.0).map_or(-1.0, ms);
        println!(
            "player {} stream {} fps {fps:.1} kbps {kbps:.0} latency_p50_ms {p50:.1} latency_p99_ms {p99:.1}",
            p.user, p.stream_id
        );
        all_latencies.extend_from_slice(&stats.latencies_us);
    }
    let mut join_us: Vec<u64> = joins
        .iter()
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .collect();
    println!("bench_rooms {}", args.rooms);
    println!("bench_publishers {}", args.rooms * args.publishers);
    println!("bench_players {}", played.len());
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
    match (before, after) {
        (Some(before), Some(after)) => {
            let (cpu, rss) = cpu_and_rss(before, after, measured);
            println!("server_cpu_percent {cpu:.1}");
            println!("server_rss_mb {rss:.1}");
        }
        _ => println!("server_cpu_percent n/a (not a local process; --server-pid)"),
    }
    stop.store(true, Ordering::Relaxed);
    for (session, token) in sessions {
        session.end(&target, &token).await;
    }
    Ok(())
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
