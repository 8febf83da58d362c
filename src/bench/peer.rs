//! The bench's WebRTC ends: a WHIP publisher replaying the encoded loop and
//! a WHEP player that counts what arrives (webrtc-rs with the media profile
//! the SDK and the SFU share), and their HTTP exchanges. A POST answered
//! with a redirect (307/308: the room lives on another node) is sent again
//! to the `Location`, at most [`MAX_REDIRECTS`] times; the session's
//! resource is then on that node.

use super::janus;
use super::media::{Clip, Depacketizer};
use super::report::PlayerStats;
use anyhow::{anyhow, bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

/// How long an HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);
/// The most redirects one POST follows.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// How long an offer or answer waits for ICE gathering (Janus).
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the server is and where media binds.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port` of the server's HTTP listener (plain http) the POSTs go
    /// to first (the entry node).
    pub(crate) authority: String,
    /// The local address media sockets bind to.
    pub(crate) bind_ip: IpAddr,
}

/// How a session is negotiated.
#[derive(Clone, Copy)]
pub(crate) enum Signaling<'a> {
    /// WHIP or WHEP POSTs with a login token for `room` (redirects
    /// followed).
    Whip {
        /// The login token.
        token: &'a str,
        /// The room.
        room: &'a str,
    },
    /// Janus's videoroom over its HTTP API (players name the feed).
    Janus(&'a janus::Room),
}

impl<'a> Signaling<'a> {
    /// Janus's videoroom when the bench targets Janus, else WHIP/WHEP with
    /// `token` for `room`.
    pub(crate) fn choose(janus: Option<&'a janus::Room>, token: &'a str, room: &'a str) -> Self {
        match janus {
            Some(janus) => Signaling::Janus(janus),
            None => Signaling::Whip { token, room },
        }
    }
}

/// A peer connection and what its events tell.
struct Peer {
    pc: Arc<dyn PeerConnection>,
    connected: watch::Receiver<bool>,
    gathered: watch::Receiver<bool>,
}

impl Peer {
    /// The local description once ICE gathering is complete (or after
    /// [`GATHER_TIMEOUT`]), candidates included.
    async fn gathered_sdp(&mut self) -> anyhow::Result<String> {
        let _ = tokio::time::timeout(GATHER_TIMEOUT, self.gathered.wait_for(|done| *done)).await;
        Ok(self
            .pc
            .local_description()
            .await
            .ok_or_else(|| anyhow!("no local description"))?
            .sdp)
    }
}

/// A WHIP or WHEP session (or a Janus one): its peer connection and
/// resource.
pub(crate) struct Session {
    pc: Arc<dyn PeerConnection>,
    /// `host:port` of the node holding the WHIP/WHEP resource, and its
    /// path (none for Janus).
    resource: Option<(String, String)>,
    connected: watch::Receiver<bool>,
    /// How long the POST took (token check, login, negotiation), redirects
    /// included.
    pub(crate) join: Duration,
    /// Redirects followed to reach the room's node.
    pub(crate) redirects: usize,
}

impl Session {
    /// Whether the peer connection is (or becomes, within `within`)
    /// connected.
    pub(crate) async fn connected(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.connected.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Ends the resource (`DELETE`) and closes the connection.
    pub(crate) async fn end(self, token: &str) {
        if let Some((authority, location)) = &self.resource {
            let _ = http(authority, Method::DELETE, location, Some(token), None).await;
        }
        let _ = self.pc.close().await;
    }

    /// A Janus session: no resource to delete.
    fn janus(peer: Peer, join: Duration) -> Session {
        Session {
            pc: peer.pc,
            resource: None,
            connected: peer.connected,
            join,
            redirects: 0,
        }
    }
}

/// When each frame of the loop was last sent, per publisher (Unix-free:
/// microseconds since the bench's start).
pub(crate) type SendTimes = Arc<Vec<AtomicU64>>;

/// Publishes `stream_id` (over WHIP or to Janus) and replays `clip` in a
/// task until `stop` is set, noting each frame's send time. Also gives
/// Janus's feed ID.
pub(crate) async fn publish(
    target: &Target,
    via: Signaling<'_>,
    stream_id: &str,
    clip: Arc<Clip>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Session, SendTimes, Option<u64>)> {
    let mut peer = connection(target, None).await?;
    let pc = Arc::clone(&peer.pc);
    let ssrc: u32 = rand::random();
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            format!("bench-{stream_id}"),
            "video".to_owned(),
            "video".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: rtc_profile::h264_codec(),
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await?;
    let (session, feed) = match via {
        Signaling::Whip { token, room } => {
            let path = format!("/whip/{room}/{stream_id}");
            (negotiate(target, peer, &path, token).await?, None)
        }
        Signaling::Janus(room) => {
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer).await?;
            let offer = peer.gathered_sdp().await?;
            let started = Instant::now();
            let (feed, answer) = room.publish(&offer).await?;
            pc.set_remote_description(RTCSessionDescription::answer(answer)?)
                .await?;
            (Session::janus(peer, started.elapsed()), Some(feed))
        }
    };
    let params = sender.get_parameters().await?;
    let payload_type = params
        .rtp_parameters
        .codecs
        .first()
        .map(|c| c.payload_type)
        .ok_or_else(|| anyhow!("the answer accepted no video codec"))?;
    let sent: SendTimes = Arc::new((0..clip.frames.len()).map(|_| AtomicU64::new(0)).collect());
    let times = Arc::clone(&sent);
    tokio::spawn(async move {
        let period = Duration::from_micros(1_000_000 / u64::from(clip.fps.max(1)));
        let mut tick = tokio::time::interval(period);
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let index = n % clip.frames.len();
            let sample = Sample {
                data: clip.frames[index].clone(),
                duration: period,
                ..Sample::new(Instant::now())
            };
            times[index].store(micros_since(epoch), Ordering::Relaxed);
            if track
                .sample_writer(ssrc, payload_type)
                .write_sample(&sample)
                .await
                .is_err()
            {
                break;
            }
            n += 1;
        }
    });
    Ok((session, sent, feed))
}

/// Plays `stream_id` over WHEP (or Janus's `feed`); what arrives is
/// counted into `stats` (frames recognised in `clip` get a latency from
/// `sent`).
pub(crate) async fn play(
    target: &Target,
    via: Signaling<'_>,
    stream_id: &str,
    feed: Option<u64>,
    counting: Counting,
) -> anyhow::Result<Session> {
    let mut peer = connection(target, Some(counting)).await?;
    let (token, room) = match via {
        Signaling::Whip { token, room } => (token, room),
        Signaling::Janus(room) => {
            let feed = feed.ok_or_else(|| anyhow!("no Janus feed for {stream_id}"))?;
            let started = Instant::now();
            let (handle, offer) = room.subscribe(feed).await?;
            let pc = &peer.pc;
            pc.set_remote_description(RTCSessionDescription::offer(offer)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
            let answer = peer.gathered_sdp().await?;
            room.start(handle, &answer).await?;
            return Ok(Session::janus(peer, started.elapsed()));
        }
    };
    peer.pc
        .add_transceiver_from_kind(
            RtpCodecKind::Video,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await?;
    negotiate(target, peer, &format!("/whep/{room}/{stream_id}"), token).await
}

/// What a player counts into, and how it recognises frames.
#[derive(Clone)]
pub(crate) struct Counting {
    /// The loop the publisher replays.
    pub(crate) clip: Arc<Clip>,
    /// The publisher's send times.
    pub(crate) sent: SendTimes,
    /// The bench's clock.
    pub(crate) epoch: Instant,
    /// Where the counts go.
    pub(crate) stats: Arc<Mutex<PlayerStats>>,
}

/// A connection's events: its state, ICE gathering, and (players) its
/// tracks counted.
struct Events {
    connected: watch::Sender<bool>,
    gathered: watch::Sender<bool>,
    counting: Option<Counting>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.connected
            .send_replace(state == RTCPeerConnectionState::Connected);
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathered
            .send_replace(state == RTCIceGatheringState::Complete);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // Read in a task of its own: the connection's events wait for
        // this callback to return.
        if let Some(counting) = self.counting.clone() {
            tokio::spawn(async move { counting.count(track).await });
        }
    }
}

impl Counting {
    /// Counts a track's packets and frames until it ends.
    async fn count(&self, track: Arc<dyn TrackRemote>) {
        let mut frame = Depacketizer::default();
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let payload = &packet.payload;
                    frame.push(payload);
                    let marker = packet.header.marker;
                    let key = if marker { frame.finish() } else { None };
                    let now = micros_since(self.epoch);
                    let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
                    stats.bytes += payload.len() as u64;
                    if let Some(key) = key {
                        let latency = self
                            .clip
                            .position(key)
                            .map(|i| self.sent[i].load(Ordering::Relaxed))
                            .filter(|&sent| sent > 0 && sent <= now)
                            .map(|sent| now - sent);
                        stats.frame(now, latency);
                    }
                }
                TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                _ => {}
            }
        }
    }
}

async fn connection(target: &Target, counting: Option<Counting>) -> anyhow::Result<Peer> {
    let (connected, connected_rx) = watch::channel(false);
    let (gathered, gathered_rx) = watch::channel(false);
    let handler = Arc::new(Events {
        connected,
        gathered,
        counting,
    });
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(rtc_profile::media_engine()?)
        .with_interceptor_registry(rtc_profile::feedback_interceptors())
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(target.bind_ip, 0)])
        .build()
        .await?;
    Ok(Peer {
        pc: Arc::new(pc),
        connected: connected_rx,
        gathered: gathered_rx,
    })
}

/// Offers, POSTs the offer to `path` (following redirects), applies the
/// answer.
async fn negotiate(
    target: &Target,
    peer: Peer,
    path: &str,
    token: &str,
) -> anyhow::Result<Session> {
    let pc = peer.pc;
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let sdp = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow!("no local description"))?
        .sdp;
    let started = Instant::now();
    let mut authority = target.authority.clone();
    let mut path = path.to_owned();
    let mut redirects = 0;
    let answered = loop {
        let sdp = Some(Body::Sdp(sdp.clone()));
        let (status, location, body) =
            http(&authority, Method::POST, &path, Some(token), sdp).await?;
        match (status, location) {
            (307 | 308, Some(location)) if redirects < MAX_REDIRECTS => {
                (authority, path) = redirected(&authority, &location)?;
                redirects += 1;
            }
            (201, Some(location)) => break Ok((location, body)),
            (201, None) => break Err(anyhow!("POST {path}: no Location")),
            (status, _) => break Err(anyhow!("POST {authority}{path}: HTTP {status}: {body}")),
        }
    };
    let join = started.elapsed();
    let (location, body) = match answered {
        Ok(answered) => answered,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };
    pc.set_remote_description(RTCSessionDescription::answer(body)?)
        .await?;
    Ok(Session {
        pc,
        resource: Some((authority, location)),
        connected: peer.connected,
        join,
        redirects,
    })
}

/// Where a redirect from `authority` to `location` leads: (authority,
/// path and query). Plain http only, as the bench's own target.
fn redirected(authority: &str, location: &str) -> anyhow::Result<(String, String)> {
    if location.starts_with('/') {
        return Ok((authority.to_owned(), location.to_owned()));
    }
    let rest = location
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("redirect to {location}: only http:// is followed"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if host.is_empty() {
        bail!("redirect to {location}: no host");
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok((host.to_owned(), path.to_owned()))
}

/// A request body.
pub(crate) enum Body {
    /// An SDP offer (WHIP, WHEP).
    Sdp(String),
    /// JSON (Janus).
    Json(String),
}

/// One HTTP/1.1 exchange, with a bearer `token` if any: (status, Location,
/// body).
pub(crate) async fn http(
    authority: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Body>,
) -> anyhow::Result<(u16, Option<String>, String)> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (content_type, body) = match body {
            Some(Body::Sdp(sdp)) => (Some("application/sdp"), sdp),
            Some(Body::Json(json)) => (Some("application/json"), json),
            None => (None, String::new()),
        };
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("{path}: no answer within {HTTP_TIMEOUT:?}"))?
}

/// Microseconds since `epoch`.
fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_lead_to_the_location_node() {
        let to = |l| redirected("127.0.0.1:1", l).ok();
        assert_eq!(
            to("http://127.0.0.1:2/whip/r/s?layer=low"),
            Some(("127.0.0.1:2".to_owned(), "/whip/r/s?layer=low".to_owned()))
        );
        assert_eq!(
            to("/whep/r/s"),
            Some(("127.0.0.1:1".to_owned(), "/whep/r/s".to_owned()))
        );
        assert_eq!(to("https://h:3/whip/r/s"), None, "plain http only");
        assert_eq!(to("http:///x"), None);
    }
}
