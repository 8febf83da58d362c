//! No packet meets a connection without SRTP keys. The SFU writes to a
//! player only once the player's connection is up: a packet written before
//! DTLS has given the leg its keys is dropped by webrtc-rs
//! (`local_srtp_context is not set yet`), and it may be the start of the
//! keyframe the player waits for. And a publisher's first packets reach
//! the SFU after its keys (`remote_srtp_context is not set yet` when they
//! did not: the SFU answers publishers as the DTLS server for this).
//! webrtc-rs reports each such drop through the `log` crate; this test
//! binary installs its own logger (one per process) and counts them while
//! two players join a live stream.

use media_core::PlayerState;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use test_support::{Peer, TestServer};

/// Counts log records that say a packet met a connection without SRTP keys.
struct KeylessPackets(AtomicUsize);

static KEYLESS: KeylessPackets = KeylessPackets(AtomicUsize::new(0));

impl log::Log for KeylessPackets {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        let text = record.args().to_string();
        // A packet the SFU wrote before the leg had its keys, or one read
        // before the reading side's keys: a publisher's first packets,
        // when the publisher finished the DTLS handshake first and wrote
        // them right behind its last flight (see the SFU's DTLS roles).
        if text.contains("srtp_context is not set yet") || text.contains("srp_context is not set") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_get_no_packet_before_their_connection_has_keys() {
    log::set_logger(&KEYLESS).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Warn);
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "keys", "a", false).await;
    a.publish("a-cam").await;
    // The first player of the stream, then a later one.
    for user in ["b", "c"] {
        let mut player = Peer::join(server.profile(), "keys", user, false).await;
        let mut video = player.play_video("a-cam");
        player.wait_player_state(PlayerState::Playing).await;
        assert!(
            video.first(Duration::from_secs(20)).await.is_some(),
            "{user} got no frame"
        );
        let _ = video.collect(Duration::from_secs(1)).await;
        player.engine.destroy().await;
    }
    a.engine.destroy().await;
    assert_eq!(
        KEYLESS.0.load(Ordering::Relaxed),
        0,
        "packets met connections whose SRTP keys were not ready"
    );
}
