//! Audio through a lossy path: a UDP relay in front of the SFU drops a share
//! of every RTP/RTCP packet in both directions (the publisher's uplink and
//! the player's downlink), and the publisher's 440 Hz tone is measured where
//! it is played. The same call runs with RED (RFC 2198, redundancy chosen by
//! the path's loss: the uplink's in the SFU's transport-wide feedback, the
//! downlink's in the player's receiver reports, which the SFU passes on)
//! and with RED switched off (plain Opus
//! with in-band FEC), and the player's quality reports say how many frames
//! were lost on the wire, how many were recovered and how many still had to
//! be concealed.
//!
//! `CONFER_AUDIO_LOSS_FIGURES=1` also runs 10 % and 50 % loss, 50 % loss
//! with 50 ms each way (the network bench's `loss50`), and 5 % reordering
//! (20 ms delay each way, 5 % of packets sent without it), and prints the
//! figures of each.

use media_core::capture::tone::dominant_frequency;
use media_core::{Event, PlayerState};
use std::net::IpAddr;
use std::time::Duration;
use test_support::media::AudioProbe;
use test_support::udp_relay::{UdpRelay, RELAY_IP};
use test_support::{Peer, TestServer};

/// Quality reports (3 s each) measured per setting.
const REPORTS: usize = 3;
/// Reports skipped after a change, while the sender adapts to it.
const SETTLE_REPORTS: usize = 2;

/// What the player's quality reports say over a few intervals.
#[derive(Debug, Clone, Copy, Default)]
struct AudioFigures {
    /// Packets lost on the wire, %.
    lost: f64,
    /// Frames recovered (RED or FEC), %.
    recovered: f64,
    /// Frames concealed after repair, %.
    concealed: f64,
    /// The jitter buffer's target delay, ms (latest report).
    jitter_buffer_ms: f64,
}

/// The mean of the next `n` player quality reports.
async fn figures(player: &mut Peer, n: usize) -> AudioFigures {
    let mut sum = AudioFigures::default();
    for _ in 0..n {
        let Event::PlayerQualityUpdate { quality: q, .. } = player
            .wait_for("player quality", |e| {
                matches!(e, Event::PlayerQualityUpdate { .. })
            })
            .await
        else {
            unreachable!("the predicate matched a quality update");
        };
        sum.lost += q.audio_loss_rate.unwrap_or(0.0) * 100.0 / n as f64;
        sum.recovered += q.audio_recovered_rate.unwrap_or(0.0) * 100.0 / n as f64;
        sum.concealed += q.audio_break_rate * 100.0 / n as f64;
        sum.jitter_buffer_ms = q.audio_jitter_buffer_ms.unwrap_or(0.0);
    }
    sum
}

/// The publisher's audio send rate, kbit/s, in its next quality report.
async fn sent_audio_kbps(publisher: &mut Peer) -> f64 {
    let reports = publisher
        .publisher_qualities(Duration::from_millis(3_200))
        .await;
    reports.last().map_or(0.0, |q| q.audio_kbps)
}

/// The dominant frequency of the next second of played audio.
async fn played_tone(probe: &mut AudioProbe) -> Option<f64> {
    probe.drain();
    let samples = probe
        .collect("a-cam", Duration::from_secs(1), Duration::from_secs(5))
        .await;
    dominant_frequency(&samples, 1, 48_000)
}

/// A call whose media crosses a relay losing `loss` % each way; returns
/// the figures with RED on, then with RED off, and the tone heard with RED.
async fn red_on_and_off(slot: u16, loss: u64) -> (AudioFigures, AudioFigures, Option<f64>) {
    impaired(slot, &format!("{loss}% loss each way"), |relay| {
        relay.set_loss_percent(loss)
    })
    .await
}

/// The same call through a relay `impair` sets up once the player plays.
async fn impaired(
    slot: u16,
    name: &str,
    impair: impl FnOnce(&UdpRelay),
) -> (AudioFigures, AudioFigures, Option<f64>) {
    let port = 58_000 + (std::process::id() % 1000) as u16 * 5 + slot;
    let relay = UdpRelay::start(port..=port).await;
    let server = TestServer::start_with(|c| {
        c.media.udp_port = port;
        c.media.announced_ips = vec![IpAddr::from(RELAY_IP)];
    })
    .await;
    // Peers that announce no candidates of their own: the SFU reaches them
    // through the relay too.
    let peer = |user: &str| {
        let mut profile = server.profile();
        profile.transport.announce_local_candidates = false;
        Peer::create(profile, user)
    };
    let room = format!("audio-loss-{slot}");
    let mut a = peer("a");
    a.login(&room, false, None);
    a.publish("a-cam").await;
    let mut b = peer("b");
    b.login(&room, false, None);
    let (_video, mut probe) = b.play_probed("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    impair(&relay);
    figures(&mut b, SETTLE_REPORTS).await;
    let with_red = figures(&mut b, REPORTS).await;
    let tone = played_tone(&mut probe).await;
    let red_kbps = sent_audio_kbps(&mut a).await;
    a.engine.enable_audio_red(false);
    figures(&mut b, SETTLE_REPORTS).await;
    let without_red = figures(&mut b, REPORTS).await;
    let plain_kbps = sent_audio_kbps(&mut a).await;
    eprintln!(
        "{name}: RED {with_red:.1?} sending {red_kbps:.0} kbit/s, plain Opus + FEC {without_red:.1?} sending {plain_kbps:.0} kbit/s, tone heard with RED {tone:.1?} Hz"
    );
    a.engine.destroy().await;
    b.engine.destroy().await;
    (with_red, without_red, tone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_recovers_a_tone_through_30_percent_loss_with_fewer_concealed_frames() {
    let (red, plain, tone) = red_on_and_off(0, 30).await;
    let tone = tone.expect("audio played through 30% loss");
    assert!((tone - 440.0).abs() < 440.0 * 0.02, "heard {tone:.1} Hz");
    // Both directions lose 30 %: about half the packets never arrive.
    assert!(red.lost > 20.0 && plain.lost > 20.0, "{red:?} {plain:?}");
    assert!(
        red.recovered > plain.recovered,
        "RED recovers more: {red:?} vs {plain:?}"
    );
    // On a loaded machine: 0.0-2.0 % vs 20-31 % concealed (RED sized for
    // the ~51 % lost on the path, five to eight redundant frames).
    assert!(
        red.concealed < plain.concealed / 3.0,
        "RED conceals far fewer frames: {red:?} vs {plain:?}"
    );
    if std::env::var_os("CONFER_AUDIO_LOSS_FIGURES").is_some() {
        for (slot, loss) in [(1, 10), (2, 50)] {
            red_on_and_off(slot, loss).await;
        }
        // The network bench's `loss50`: the same loss, 50 ms each way.
        impaired(4, "50% loss and 50 ms each way", |relay| {
            relay.set_delay(Duration::from_millis(50));
            relay.set_loss_percent(50);
        })
        .await;
        impaired(3, "5% reordered", |relay| {
            relay.set_delay(Duration::from_millis(20));
            relay.set_reorder_percent(5);
        })
        .await;
    }
}
