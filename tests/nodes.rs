//! Several `confer serve` nodes on one real Redis (`redis-server` on a
//! loopback port, no persistence). Each client reaches the nodes through a
//! front door of its own that prefers a different node, as a load balancer
//! would: logins through different nodes are redirected to the room's
//! node and meet there, media flows, and:
//!
//! - SIGKILL of the room's node: after its lease (2 s here) every client is
//!   back in the room on another node with media flowing again, and the
//!   room holds each user once;
//! - a Redis restart mid-call (all data gone): the call goes on, and the
//!   room's node writes its room back, so a later login meets everyone.

use media_core::{Event, PlayerState, RoomState};
use server::ServerConfig;
use std::collections::BTreeSet;
use std::time::Duration;
use test_support::cluster::{kill_node, serve_node, Front, Redis};
use test_support::flood::ServeProcess;
use test_support::media::VideoProbe;
use test_support::peer::engine_profile;
use test_support::Peer;

/// The node lease in these tests.
const LEASE_MS: u64 = 2_000;
/// How long media may take to come back after a failover or a restart.
const MEDIA_BACK: Duration = Duration::from_secs(15);
const ROOM: &str = "nodes-room";

fn config() -> ServerConfig {
    let mut config = ServerConfig::generate_local();
    config.bind = "127.0.0.1:0".parse().expect("literal address");
    config.heartbeat_interval_ms = 500;
    config.heartbeat_timeout_ms = 3_000;
    config
}

/// A peer logged in to [`ROOM`] through `front`.
async fn join(config: &ServerConfig, front: &Front, user: &str) -> Peer {
    Peer::join(
        engine_profile(&config.apps[0], &front.url),
        ROOM,
        user,
        true,
    )
    .await
}

/// Waits for a decoded frame numbered after `after`; returns its number.
async fn frame_after(probe: &mut VideoProbe, after: u32, who: &str) -> u32 {
    let deadline = tokio::time::Instant::now() + MEDIA_BACK;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = probe
            .first(left)
            .await
            .unwrap_or_else(|| panic!("{who}: no frame after #{after} within {MEDIA_BACK:?}"));
        if seen.frame_number > after {
            return seen.frame_number;
        }
    }
}

/// The users of [`ROOM`] recorded in Redis (app `app_id`).
async fn redis_members(redis: &Redis, app_id: u32) -> BTreeSet<String> {
    let key = format!("confer:app:{app_id}:room:{ROOM}");
    redis
        .cli(&["--raw", "HKEYS", &key])
        .await
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The users and streams a fresh login's snapshot shows.
async fn snapshot(peer: &mut Peer) -> (BTreeSet<String>, BTreeSet<String>) {
    let seen = peer.collect_for(Duration::from_millis(600)).await;
    let mut users = BTreeSet::new();
    let mut streams = BTreeSet::new();
    for e in peer.log.iter().chain(&seen) {
        match e {
            Event::RoomUserUpdate { users: u, .. } => {
                users.extend(u.iter().map(|u| u.user_id.clone()))
            }
            Event::RoomStreamUpdate { streams: s, .. } => {
                streams.extend(s.iter().map(|s| s.stream_id.clone()))
            }
            _ => {}
        }
    }
    (users, streams)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn nodes(config: &ServerConfig, redis: &Redis, n: usize) -> Vec<ServeProcess> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(serve_node(config, redis, LEASE_MS).await);
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_meet_and_survive_a_node_kill() {
    let Some(redis) = Redis::start("three_nodes_meet_and_survive_a_node_kill").await else {
        return;
    };
    let config = config();
    let app_id = config.apps[0].app_id;
    let nodes = nodes(&config, &redis, 3).await;
    let addr = |i: usize| nodes[i].addr;
    let fa = Front::start(vec![addr(0), addr(1), addr(2)]).await;
    let fb = Front::start(vec![addr(1), addr(2), addr(0)]).await;
    let fc = Front::start(vec![addr(2), addr(0), addr(1)]).await;

    // a reaches node 0 first: the room is pinned there; b and c log in
    // through nodes 1 and 2 and are redirected to it.
    let mut a = join(&config, &fa, "a").await;
    let mut b = join(&config, &fb, "b").await;
    let mut c = join(&config, &fc, "c").await;
    a.publish("a-cam").await;
    b.publish("b-cam").await;
    let mut c_plays_a = c.play_video("a-cam");
    let mut a_plays_b = a.play_video("b-cam");
    c.wait_player_state(PlayerState::Playing).await;
    a.wait_player_state(PlayerState::Playing).await;
    let before_c = frame_after(&mut c_plays_a, 0, "c playing a-cam").await;
    let before_a = frame_after(&mut a_plays_b, 0, "a playing b-cam").await;
    assert_eq!(redis_members(&redis, app_id).await, set(&["a", "b", "c"]));

    kill_node(&nodes[0]);
    for p in [&mut a, &mut b, &mut c] {
        p.wait_state(RoomState::Connecting).await;
    }
    for p in [&mut a, &mut b, &mut c] {
        assert_eq!(p.wait_state(RoomState::Connected).await, 0, "{}", p.user_id);
    }
    // Media flows again (frames numbered after the ones before the kill).
    frame_after(&mut c_plays_a, before_c, "c playing a-cam after the kill").await;
    frame_after(&mut a_plays_b, before_a, "a playing b-cam after the kill").await;

    // Nothing lost, nothing twice: Redis has each user once, and a newcomer
    // through the last node meets everyone and both streams.
    assert_eq!(redis_members(&redis, app_id).await, set(&["a", "b", "c"]));
    let mut d = join(&config, &fc, "d").await;
    assert_eq!(
        snapshot(&mut d).await,
        (set(&["a", "b", "c"]), set(&["a-cam", "b-cam"]))
    );
    // The others saw churn for a, b and c (Delete then Add) or none, and
    // end with everyone.
    for p in [&mut a, &mut b, &mut c] {
        let others: BTreeSet<String> = ["a", "b", "c", "d"]
            .into_iter()
            .filter(|u| *u != p.user_id)
            .map(str::to_owned)
            .collect();
        p.wait_for("user Add [d]", |e| {
            matches!(e, Event::RoomUserUpdate { users, .. } if users.iter().any(|u| u.user_id == "d"))
        })
        .await;
        assert_eq!(present_users(&p.log), others, "{}", p.user_id);
    }
    for p in [a, b, c, d] {
        p.engine.destroy().await;
    }
}

/// The users a peer's events leave in the room (Adds minus Deletes, in order).
fn present_users(log: &[Event]) -> BTreeSet<String> {
    let mut users = BTreeSet::new();
    for e in log {
        if let Event::RoomUserUpdate {
            update_type,
            users: u,
            ..
        } = e
        {
            for user in u {
                match update_type {
                    media_core::UpdateType::Add => users.insert(user.user_id.clone()),
                    media_core::UpdateType::Delete => users.remove(&user.user_id),
                };
            }
        }
    }
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_call_loses_nothing() {
    let Some(mut redis) = Redis::start("a_redis_restart_mid_call_loses_nothing").await else {
        return;
    };
    let config = config();
    let app_id = config.apps[0].app_id;
    let nodes = nodes(&config, &redis, 2).await;
    let fa = Front::start(vec![nodes[0].addr]).await;
    let fb = Front::start(vec![nodes[1].addr]).await;
    let mut a = join(&config, &fa, "a").await;
    let mut b = join(&config, &fb, "b").await;
    a.publish("a-cam").await;
    let mut b_plays_a = b.play_video("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    let before = frame_after(&mut b_plays_a, 0, "b playing a-cam").await;

    redis.restart(Duration::from_millis(500)).await;
    // The call never stopped: media keeps flowing, nobody was interrupted.
    frame_after(
        &mut b_plays_a,
        before + 10,
        "b playing a-cam after the restart",
    )
    .await;
    // The room's node writes its room back within a lease renewal or two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while redis_members(&redis, app_id).await != set(&["a", "b"]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the room was not written back: {:?}",
            redis_members(&redis, app_id).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A newcomer through the other node is sent to the same room.
    let mut c = join(&config, &fb, "c").await;
    assert_eq!(snapshot(&mut c).await, (set(&["a", "b"]), set(&["a-cam"])));
    // Neither a nor b was ever interrupted (one Connecting: the login's).
    for p in [&mut a, &mut b] {
        p.collect_for(Duration::from_millis(100)).await;
        let connecting = p
            .log
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::RoomStateUpdate {
                        state: RoomState::Connecting,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(connecting, 1, "{} was interrupted: {:?}", p.user_id, p.log);
    }
    for p in [a, b, c] {
        p.engine.destroy().await;
    }
}
