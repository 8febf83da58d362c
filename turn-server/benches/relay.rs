//! Relay throughput, server CPU, loss and added latency on loopback.
//!
//! `cargo bench -p turn-server --bench relay`
//!
//! Setup: the TURN server runs alone on its own thread (a current-thread
//! tokio runtime), so that thread's CPU time is the server's CPU time; it is
//! read from `/proc/self/task/<tid>/schedstat` (nanoseconds on CPU) before
//! and after the measured window. A client socket with one allocation and a
//! peer socket then exchange 1200-byte packets at 10 Mbit/s in EACH
//! direction (client -> relay -> peer and peer -> relay -> client, so 20
//! Mbit/s cross the server), paced from one sender thread. In the same run,
//! a direct socket pair sends the same packets at the same pace, so the
//! added latency of the relay is measured against loopback under the same
//! load. Each packet carries a sequence number and its send time.
//!
//! Run 1 uses a channel (ChannelData both ways); run 2 uses Send
//! indications to the peer and Data indications back.
//!
//! Output, one figure per line (`<name> <value>`). `_mbps` is the payload
//! received through the relay in both directions over the whole window
//! (sending plus a 200 ms drain, so slightly under 20); `_cpu_percent` is
//! the server thread's CPU over the same window, and
//! `_cpu_percent_per_10mbps` divides it by (relayed Mbit/s / 10), which
//! makes it independent of the window. Latencies are one-way (sender and
//! receiver share the clock); `_added_latency_*` subtracts the direct
//! pair's percentile from the relay's. Loopback on a shared 2-core machine:
//! p99 figures are noisy.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use test_support::turn::{credentials, loopback_config, wire, Client, Conn};

const PAYLOAD: usize = 1200;
const MBPS: f64 = 10.0;
const CHANNEL: u16 = 0x4000;

/// The server thread's CPU time so far.
fn thread_cpu(tid: u32) -> Duration {
    let schedstat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .expect("schedstat (Linux only)");
    let nanos: u64 = schedstat
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Duration::from_nanos(nanos)
}

fn current_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

struct ServerThread {
    tid: u32,
    udp: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    fn start() -> ServerThread {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("turn-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let config = confer_turn::Config {
                        listen_tcp: None,
                        bandwidth_bytes_per_sec: 0,
                        ..loopback_config()
                    };
                    let server = confer_turn::TurnServer::start(config, None).await.unwrap();
                    ready_tx.send((current_tid(), server.udp_addr())).unwrap();
                    let _ = stop_rx.await;
                    let stats = server.stats();
                    eprintln!("server stats: {stats:?}");
                    server.shutdown().await;
                });
            })
            .unwrap();
        let (tid, udp) = ready_rx.recv().unwrap();
        ServerThread {
            tid,
            udp,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Channel,
    Indication,
}

/// One receiving end: latencies (µs) and the count of packets.
#[derive(Default)]
struct Received {
    latencies_us: Vec<f64>,
    bytes: usize,
}

fn stamp(seq: u64, base: Instant) -> Vec<u8> {
    let mut payload = vec![0u8; PAYLOAD];
    payload[..8].copy_from_slice(&seq.to_be_bytes());
    let nanos = base.elapsed().as_nanos() as u64;
    payload[8..16].copy_from_slice(&nanos.to_be_bytes());
    payload
}

fn latency_us(payload: &[u8], base: Instant) -> Option<f64> {
    let sent = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    let now = base.elapsed().as_nanos() as u64;
    Some(now.saturating_sub(sent) as f64 / 1000.0)
}

/// Receives on `socket` until `stop`, unwrapping TURN framing with `unwrap`.
fn receiver(
    socket: UdpSocket,
    base: Instant,
    stop: Arc<AtomicBool>,
    unwrap: fn(&[u8]) -> Option<&[u8]>,
) -> std::thread::JoinHandle<Received> {
    std::thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut received = Received::default();
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            if let Some(payload) = unwrap(&buf[..n]) {
                if payload.len() == PAYLOAD {
                    if let Some(latency) = latency_us(payload, base) {
                        received.latencies_us.push(latency);
                        received.bytes += payload.len();
                    }
                }
            }
        }
        received
    })
}

fn raw(bytes: &[u8]) -> Option<&[u8]> {
    Some(bytes)
}

/// The payload of ChannelData or of a Data indication's DATA attribute.
fn turn_payload(bytes: &[u8]) -> Option<&[u8]> {
    match bytes.first()? >> 6 {
        1 => {
            let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
            bytes.get(4..4 + len)
        }
        0 => {
            // Walk the attributes to DATA (0x0013).
            let mut at = 20;
            while at + 4 <= bytes.len() {
                let typ = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
                let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
                if typ == 0x0013 {
                    return bytes.get(at + 4..at + 4 + len);
                }
                at += 4 + len.div_ceil(4) * 4;
            }
            None
        }
        _ => None,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn run(mode: Mode, seconds: u64, prefix: &str) {
    let server = ServerThread::start();
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Allocate, permit, bind with the test client; then take its socket.
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let (client_socket, relayed) = setup.block_on(async {
        let mut client = Client::new(Conn::udp(server.udp).await, credentials("bench", 3600));
        let relayed = client.allocate().await;
        client.create_permission(peer_addr).await;
        if mode == Mode::Channel {
            client.channel_bind(CHANNEL, peer_addr).await;
        }
        let Conn::Udp(socket, _) = client.conn else {
            unreachable!()
        };
        (socket.into_std().unwrap(), relayed)
    });
    client_socket.set_nonblocking(false).unwrap();
    client_socket.connect(server.udp).unwrap();
    let direct_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let direct_tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    direct_tx.connect(direct_rx.local_addr().unwrap()).unwrap();

    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let at_peer = receiver(peer.try_clone().unwrap(), base, Arc::clone(&stop), raw);
    let at_client = receiver(
        client_socket.try_clone().unwrap(),
        base,
        Arc::clone(&stop),
        turn_payload,
    );
    let at_direct = receiver(direct_rx, base, Arc::clone(&stop), raw);

    let interval = Duration::from_secs_f64(PAYLOAD as f64 * 8.0 / (MBPS * 1e6));
    let packets = (seconds as f64 / interval.as_secs_f64()) as u64;
    let cpu_before = thread_cpu(server.tid);
    let wall = Instant::now();
    let mut next = Instant::now();
    for seq in 0..packets {
        let payload = stamp(seq, base);
        let to_peer = match mode {
            Mode::Channel => {
                let mut framed = Vec::with_capacity(4 + PAYLOAD);
                framed.extend_from_slice(&CHANNEL.to_be_bytes());
                framed.extend_from_slice(&(PAYLOAD as u16).to_be_bytes());
                framed.extend_from_slice(&payload);
                framed
            }
            Mode::Indication => wire::send_indication(peer_addr, &payload),
        };
        let _ = client_socket.send(&to_peer);
        let _ = peer.send_to(&stamp(seq, base), relayed);
        let _ = direct_tx.send(&stamp(seq, base));
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    // Let the last packets land.
    std::thread::sleep(Duration::from_millis(200));
    let elapsed = wall.elapsed();
    let cpu = thread_cpu(server.tid) - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let at_peer = at_peer.join().unwrap();
    let at_client = at_client.join().unwrap();
    let at_direct = at_direct.join().unwrap();
    drop(server);

    let relayed_bytes = at_peer.bytes + at_client.bytes;
    let relay_mbps = relayed_bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e6;
    let cpu_percent = cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    let expected = 2 * packets;
    let got = (at_peer.latencies_us.len() + at_client.latencies_us.len()) as u64;
    let loss = (expected.saturating_sub(got)) as f64 / expected as f64 * 100.0;
    let mut relay_latency: Vec<f64> = at_peer
        .latencies_us
        .iter()
        .chain(at_client.latencies_us.iter())
        .copied()
        .collect();
    relay_latency.sort_by(f64::total_cmp);
    let mut direct_latency = at_direct.latencies_us.clone();
    direct_latency.sort_by(f64::total_cmp);
    let direct_loss =
        packets.saturating_sub(direct_latency.len() as u64) as f64 / packets as f64 * 100.0;

    println!("{prefix}_mbps {relay_mbps:.1}");
    println!("{prefix}_cpu_percent {cpu_percent:.2}");
    println!(
        "{prefix}_cpu_percent_per_10mbps {:.2}",
        cpu_percent / (relay_mbps / 10.0)
    );
    println!("{prefix}_loss_percent {loss:.3}");
    println!(
        "{prefix}_latency_p50_us {:.0}",
        percentile(&relay_latency, 0.5)
    );
    println!(
        "{prefix}_latency_p99_us {:.0}",
        percentile(&relay_latency, 0.99)
    );
    println!(
        "{prefix}_direct_latency_p50_us {:.0}",
        percentile(&direct_latency, 0.5)
    );
    println!(
        "{prefix}_direct_latency_p99_us {:.0}",
        percentile(&direct_latency, 0.99)
    );
    println!(
        "{prefix}_added_latency_p50_us {:.0}",
        percentile(&relay_latency, 0.5) - percentile(&direct_latency, 0.5)
    );
    println!(
        "{prefix}_added_latency_p99_us {:.0}",
        percentile(&relay_latency, 0.99) - percentile(&direct_latency, 0.99)
    );
    println!("{prefix}_direct_loss_percent {direct_loss:.3}");
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    eprintln!(
        "TURN relay bench: {PAYLOAD}-byte packets at {MBPS} Mbit/s each way, \
         server alone on one thread"
    );
    run(Mode::Channel, 5, "turn_relay");
    run(Mode::Indication, 3, "turn_relay_indication");
}
