//! Media signaling on the real server: play subscriptions and the errors of
//! SdpOffer (the end-to-end media tests live in media-core/tests/transport_sfu.rs).

mod common;

use common::{start, WAIT};
use protocol::{AckBody, ClientMessage, ErrorCode, MediaRole, ServerMessage};

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

#[tokio::test]
async fn play_subscriptions_and_offer_errors() {
    let server = start(|_| {}).await;
    let (mut a, _) = server.login("r", "alice", false).await;
    let (mut b, _) = server.login("r2", "bob", false).await;

    // Invalid stream ID.
    b.send(&ClientMessage::PlayStream {
        request_id: 1,
        stream_id: "bad id!".into(),
    })
    .await;
    let m = b.recv_until(|m| error_code(m, 1).is_some()).await;
    assert_eq!(error_code(&m, 1), Some(ErrorCode::InvalidStreamId));

    // Stopping what is not played.
    b.send(&ClientMessage::StopPlaying {
        request_id: 2,
        stream_id: "cam".into(),
    })
    .await;
    let m = b.recv_until(|m| error_code(m, 2).is_some()).await;
    assert_eq!(error_code(&m, 2), Some(ErrorCode::NotPlaying));

    // A play offer without a subscription, then with one but not live.
    let offer = |request_id, role| ClientMessage::SdpOffer {
        request_id,
        stream_id: "cam".into(),
        role,
        sdp: "v=0\r\n".into(),
    };
    b.send(&offer(3, MediaRole::Play)).await;
    let m = b.recv_until(|m| error_code(m, 3).is_some()).await;
    assert_eq!(error_code(&m, 3), Some(ErrorCode::StreamNotLive));
    b.send(&ClientMessage::PlayStream {
        request_id: 4,
        stream_id: "cam".into(),
    })
    .await;
    let m = b.recv().await;
    assert!(matches!(
        m,
        ServerMessage::Ack {
            request_id: 4,
            body: AckBody::PlayAccepted { .. }
        }
    ));
    b.send(&offer(5, MediaRole::Play)).await;
    let m = b.recv_until(|m| error_code(m, 5).is_some()).await;
    assert_eq!(error_code(&m, 5), Some(ErrorCode::StreamNotLive));

    // Publishing media for a stream this session did not claim.
    a.send(&offer(6, MediaRole::Publish)).await;
    let m = a.recv_until(|m| error_code(m, 6).is_some()).await;
    assert_eq!(error_code(&m, 6), Some(ErrorCode::NotStreamOwner));
    // Claimed, but the SDP is garbage.
    a.send(&ClientMessage::PublishStream {
        request_id: 7,
        stream_id: "cam".into(),
        extra_info: String::new(),
        audio_muted: false,
        video_muted: false,
    })
    .await;
    a.recv_until(|m| matches!(m, ServerMessage::Ack { request_id: 7, .. }))
        .await;
    a.send(&offer(8, MediaRole::Publish)).await;
    let m = a.recv_until(|m| error_code(m, 8).is_some()).await;
    assert_eq!(error_code(&m, 8), Some(ErrorCode::PublishNegotiationFailed));

    // No StreamReady arrived for the stream that never went live.
    assert!(b
        .try_recv(std::time::Duration::from_millis(300))
        .await
        .is_none_or(|m| !matches!(m, ServerMessage::StreamReady { .. })));
    b.send(&ClientMessage::StopPlaying {
        request_id: 9,
        stream_id: "cam".into(),
    })
    .await;
    let m = b.recv().await;
    assert!(matches!(
        m,
        ServerMessage::Ack {
            request_id: 9,
            body: AckBody::PlayStopped { .. }
        }
    ));
    let _ = WAIT;
    assert_eq!(server.handle.state().media().subscription_counts(), (0, 0));
    server.handle.shutdown().await;
}
