//! `confer impair`: a UDP relay that impairs what passes through it (loss,
//! bursty loss, delay, jitter, reordering, capacity with a drop-tail queue,
//! schedules and capacity traces), for tests and benches that run peers in
//! other processes or network namespaces. Prints one JSON line of counters
//! per direction when stopped (Ctrl-C / SIGTERM).

use anyhow::Context as _;
use clap::Args;
use impair::{Conditions, Direction, LinkStats, Relay, RelayConfig, Timeline};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `confer impair`.
#[derive(Args)]
pub(crate) struct ImpairArgs {
    /// Where peers send (e.g. 127.0.0.2:3478).
    #[arg(long)]
    listen: SocketAddr,
    /// The server to relay to.
    #[arg(long)]
    target: SocketAddr,
    /// Conditions both ways, e.g. `loss=10%,delay=50ms,rate=2mbps,queue=50`
    /// (keys: loss, burst, delay, jitter, reorder, rate, queue; `clean`,
    /// `blackout`).
    #[arg(long, default_value = "clean")]
    both: String,
    /// Conditions from the peers to the server, on top of `--both`.
    #[arg(long, default_value = "")]
    up: String,
    /// Conditions from the server to the peers, on top of `--both`.
    #[arg(long, default_value = "")]
    down: String,
    /// A schedule for both directions: `<seconds> <spec patch>` lines.
    #[arg(long, conflicts_with = "trace")]
    schedule: Option<PathBuf>,
    /// A capacity trace for both directions: `<ms> <kbps>` lines, repeated.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Seed of the random draws (the same seed impairs the same way).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep STUN and DTLS out of loss and queue drops (only RTP/RTCP are
    /// impaired).
    #[arg(long)]
    protect_handshakes: bool,
}

pub(crate) async fn run(args: ImpairArgs) -> anyhow::Result<()> {
    let both: Conditions = args.both.parse().context("--both")?;
    let up = timeline(both.patched(&args.up).context("--up")?, &args)?;
    let down = timeline(both.patched(&args.down).context("--down")?, &args)?;
    let relay = Relay::start(RelayConfig {
        listen: args.listen,
        target: args.target,
        up,
        down,
        seed: args.seed,
        protect_handshakes: args.protect_handshakes,
    })
    .await
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "{}",
        serde_json::json!({ "listening": relay.local_addr(), "target": args.target })
    );
    crate::signal::stop_requested().await;
    for (name, direction) in [("up", Direction::Up), ("down", Direction::Down)] {
        println!("{}", stats_line(name, relay.stats(direction)));
    }
    Ok(())
}

/// `base`, then the schedule or trace file if one is given.
fn timeline(base: Conditions, args: &ImpairArgs) -> anyhow::Result<Timeline> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok(match (&args.schedule, &args.trace) {
        (Some(path), _) => Timeline::parse_schedule(&read(path)?, base)
            .with_context(|| path.display().to_string())?,
        (None, Some(path)) => {
            Timeline::parse_trace(&read(path)?, base).with_context(|| path.display().to_string())?
        }
        (None, None) => Timeline::constant(base),
    })
}

fn stats_line(direction: &str, stats: LinkStats) -> serde_json::Value {
    serde_json::json!({
        "direction": direction,
        "sent": stats.sent,
        "delivered": stats.delivered,
        "lost": stats.lost,
        "queue_drops": stats.queue_drops,
        "delivered_bytes": stats.delivered_bytes,
    })
}
