//! Media signaling on the real server: play subscriptions and the errors of
//! SdpOffer (the end-to-end media tests live in media-core/tests/transport_sfu.rs).

use protocol::{AckBody, ClientMessage, ErrorCode, MediaRole, ServerMessage};
use test_support::client;
use test_support::TestServer;

fn error_code(m: &ServerMessage, id: u32) -> Option<ErrorCode> {
    match m {
        ServerMessage::Error {
            request_id: Some(r),
            code,
            ..
        } if *r == id => Some(*code),
        _ => None,
    }
}

/// Sends `msg` and skips to the error answering `request_id`; returns its code.
async fn refused(c: &mut client::Client, request_id: u32, msg: &ClientMessage) -> ErrorCode {
    c.send(msg).await;
    let m = c.recv_until(|m| error_code(m, request_id).is_some()).await;
    error_code(&m, request_id).expect("matched above")
}

#[tokio::test]
async fn play_subscriptions_and_offer_errors() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "alice", false).await;
    let (mut b, _) = server.login("r2", "bob", false).await;

    // Invalid stream ID.
    assert_eq!(
        refused(&mut b, 1, &client::play_stream(1, "bad id!")).await,
        ErrorCode::InvalidStreamId
    );

    // Stopping what is not played.
    assert_eq!(
        refused(&mut b, 2, &client::stop_playing(2, "cam")).await,
        ErrorCode::NotPlaying
    );

    // A play offer without a subscription, then with one but not live.
    let offer = |request_id, role| ClientMessage::SdpOffer {
        request_id,
        stream_id: "cam".into(),
        role,
        sdp: "v=0\r\n".into(),
    };
    assert_eq!(
        refused(&mut b, 3, &offer(3, MediaRole::Play)).await,
        ErrorCode::StreamNotLive
    );
    let m = b.request(&client::play_stream(4, "cam")).await;
    assert!(matches!(
        m,
        ServerMessage::Ack {
            request_id: 4,
            body: AckBody::PlayAccepted { .. }
        }
    ));
    assert_eq!(
        refused(&mut b, 5, &offer(5, MediaRole::Play)).await,
        ErrorCode::StreamNotLive
    );

    // Publishing media for a stream this session did not claim.
    assert_eq!(
        refused(&mut a, 6, &offer(6, MediaRole::Publish)).await,
        ErrorCode::NotStreamOwner
    );
    // Claimed, but the SDP is garbage.
    a.send(&client::publish_stream(7, "cam")).await;
    a.recv_until(|m| matches!(m, ServerMessage::Ack { request_id: 7, .. }))
        .await;
    assert_eq!(
        refused(&mut a, 8, &offer(8, MediaRole::Publish)).await,
        ErrorCode::PublishNegotiationFailed
    );

    // No StreamReady arrived for the stream that never went live.
    assert!(b
        .try_recv(std::time::Duration::from_millis(300))
        .await
        .is_none_or(|m| !matches!(m, ServerMessage::StreamReady { .. })));
    let m = b.request(&client::stop_playing(9, "cam")).await;
    assert!(matches!(
        m,
        ServerMessage::Ack {
            request_id: 9,
            body: AckBody::PlayStopped { .. }
        }
    ));
    let _ = client::WAIT;
    assert_eq!(server.handle.state().media().subscription_counts(), (0, 0));
    server.handle.shutdown().await;
}
