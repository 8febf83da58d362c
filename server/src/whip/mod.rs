//! WHIP ingest (RFC 9725) and WHEP playback (the IETF WHEP draft) on the
//! server's HTTP listener, authenticated by login tokens:
//!
//! - `POST /whip/{room_id}/{stream_id}` with `Authorization: Bearer <token>`
//!   (a login token with `publish`) and an `application/sdp` offer: the
//!   token's user joins the room and publishes the stream (the room sees a
//!   user and a stream like any client's). `201 Created`, `Location` of the
//!   session resource, `ETag`, the SDP answer with every server candidate.
//! - `POST /whep/{room_id}/{stream_id}[?layer=low|medium|high]`: the token's
//!   user joins the room and plays a stream published there, with the
//!   simulcast cap other players have.
//! - `DELETE <Location>` ends the session (the room gets the stream and
//!   user Delete); `PATCH` answers 405 (no trickle ICE or ICE restart: the
//!   answer carries every candidate); `OPTIONS` answers CORS preflights.
//! - Several nodes (`--redis`): a POST for a room pinned to another node is
//!   answered `307 Temporary Redirect` to the same path on that node (RFC
//!   9725 section 4.5), once the token is checked; the client POSTs again
//!   there, and the resource lives on that node.
//! - Refusals are the server API's JSON `{code, name, message}` with the
//!   status [`status_of`] gives: 401 bad token, 403 wrong room or
//!   privilege, 404 unknown stream, 400 bad IDs or SDP, 413 a body over
//!   [`MAX_SDP_BYTES`], 415 not `application/sdp`.
//!
//! Each resource is a protocol session served in-process (`session`): it
//! ends when deleted, when its peer connection ends (or never comes up
//! within 30 s), or when the server ends the session (kick, room close).

mod refusal;
mod sdp;
mod session;

pub use refusal::{status_of, Refused};
pub use sdp::{check_offer, with_candidates, OfferError};

use crate::nodes::Placement;
use crate::sfu::StreamKey;
use crate::state::ServerState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use protocol::ids::{RoomId, StreamId};
use protocol::token::{TokenClaims, PREFIX as LEGACY_PREFIX};
use protocol::{AckBody, ClientMessage, Credentials, ErrorCode, Login, MediaRole, ServerMessage};
use protocol::{UserInfo, VideoLayer, PROTOCOL_VERSION};
use serde::Deserialize;
use session::{Leg, Session};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// The largest SDP offer accepted.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// How long a WHEP request waits for its stream's publisher to connect.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a `DELETE` waits for the session's logout.
const DELETE_TIMEOUT: Duration = Duration::from_secs(3);

/// WHIP or WHEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whip,
    Whep,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Whip => "whip",
            Kind::Whep => "whep",
        }
    }
}

/// One live resource: where it is, and how to end it.
struct Resource {
    kind: Kind,
    room_id: String,
    stream_id: String,
    /// Ends the session; it answers on the sender once logged out.
    stop: oneshot::Sender<oneshot::Sender<()>>,
}

/// The live resources of this router, by resource ID.
#[derive(Default)]
struct Resources {
    live: Mutex<HashMap<String, Resource>>,
}

impl Resources {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Resource>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The WHIP and WHEP routes, merged into the server's router.
pub fn routes() -> Router<ServerState> {
    let resources = Arc::new(Resources::default());
    Router::new()
        .route("/whip/{room_id}/{stream_id}", post(whip).options(preflight))
        .route("/whep/{room_id}/{stream_id}", post(whep).options(preflight))
        .route(
            "/whip/{room_id}/{stream_id}/{resource_id}",
            post(not_allowed)
                .delete(delete_whip)
                .patch(not_allowed)
                .options(preflight),
        )
        .route(
            "/whep/{room_id}/{stream_id}/{resource_id}",
            post(not_allowed)
                .delete(delete_whep)
                .patch(not_allowed)
                .options(preflight),
        )
        .layer(Extension(resources))
}

/// `?layer=` of a WHEP request.
#[derive(Debug, Default, Deserialize)]
struct PlayQuery {
    #[serde(default)]
    layer: Option<VideoLayer>,
}

/// What a POST asks for, from its path and query.
struct Asked {
    kind: Kind,
    /// The request's path and query (the same on another node).
    uri: Uri,
    room_id: String,
    stream_id: String,
    /// WHEP's simulcast cap.
    layer: VideoLayer,
}

/// Who is asking, from the bearer token, before anyone joins a room.
struct Caller {
    app_id: u32,
    user_id: String,
    token: String,
    may_publish: bool,
}

async fn whip(
    State(state): State<ServerState>,
    Extension(resources): Extension<Arc<Resources>>,
    Path((room_id, stream_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let asked = Asked {
        kind: Kind::Whip,
        uri,
        room_id,
        stream_id,
        layer: VideoLayer::High,
    };
    start(&state, &resources, asked, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn whep(
    State(state): State<ServerState>,
    Extension(resources): Extension<Arc<Resources>>,
    Path((room_id, stream_id)): Path<(String, String)>,
    query: Result<Query<PlayQuery>, QueryRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Query(query)) = query else {
        return Refused(ErrorCode::MalformedMessage).into_response();
    };
    let asked = Asked {
        kind: Kind::Whep,
        uri,
        room_id,
        stream_id,
        layer: query.layer.unwrap_or_default(),
    };
    start(&state, &resources, asked, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The checks both POSTs share, in order: IDs, content type, body size,
/// SDP shape, token, the room's node; then the session.
async fn start(
    state: &ServerState,
    resources: &Arc<Resources>,
    asked: Asked,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let Asked {
        kind,
        uri,
        room_id,
        stream_id,
        layer,
    } = asked;
    let room = RoomId::new(room_id).map_err(|e| e.code())?;
    let stream = StreamId::new(stream_id).map_err(|e| e.code())?;
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp {
        return Ok(unsupported_media_type());
    }
    let body = axum::body::to_bytes(body, MAX_SDP_BYTES)
        .await
        .map_err(|_| ErrorCode::MessageTooLarge)?;
    let offer = String::from_utf8(body.to_vec()).map_err(|_| negotiation_failed(kind))?;
    check_offer(&offer).map_err(|_| negotiation_failed(kind))?;
    let caller = caller(state, headers, room.as_str())?;
    if kind == Kind::Whip && !caller.may_publish {
        return Err(Refused(ErrorCode::TokenNoPublishPrivilege));
    }
    // Only a caller with a valid token learns where the room is.
    if let Some(node) = state.node() {
        match node.place(caller.app_id, room.as_str()).await {
            Ok(Placement::Here) => {}
            Ok(Placement::Elsewhere(url)) => return redirect(&url, &uri),
            Err(error) => {
                tracing::warn!(%error, "room store failed");
                return Err(Refused(ErrorCode::Internal));
            }
        }
    }
    let key = StreamKey {
        app_id: caller.app_id,
        stream_id: stream.as_str().to_owned(),
    };
    if kind == Kind::Whep {
        let streams = state.hub().room_streams(caller.app_id, room.as_str());
        let listed = streams.is_ok_and(|s| s.iter().any(|s| s.info.stream_id == key.stream_id));
        if !listed {
            return Err(Refused(ErrorCode::StreamNotFound));
        }
    }
    let login = Login {
        version: PROTOCOL_VERSION,
        app_id: caller.app_id,
        room_id: room.as_str().to_owned(),
        user: UserInfo {
            user_id: caller.user_id.clone(),
            user_name: caller.user_id.clone(),
        },
        credentials: Credentials::Token {
            token: caller.token,
        },
        notify_users: false,
        max_member_count: 0,
    };
    let mut session = Session::login(state, login).await?;
    let answered = match kind {
        Kind::Whip => publish(&mut session, &key.stream_id, offer).await,
        Kind::Whep => play(&mut session, &key.stream_id, layer, offer).await,
    };
    let answer = match answered {
        Ok(answer) => answer,
        Err(code) => {
            session.logout().await;
            return Err(Refused(code));
        }
    };
    let candidates = session.candidates().await;
    let answer = with_candidates(&answer, &candidates);
    let resource_id = format!("{:032x}", rand::random::<u128>());
    let location = format!(
        "/{}/{}/{}/{}",
        kind.path(),
        room.as_str(),
        key.stream_id,
        resource_id
    );
    let (stop, stopped) = oneshot::channel();
    resources.lock().insert(
        resource_id.clone(),
        Resource {
            kind,
            room_id: room.as_str().to_owned(),
            stream_id: key.stream_id.clone(),
            stop,
        },
    );
    tracing::info!(kind = kind.path(), app_id = caller.app_id, room_id = room.as_str(), user_id = %caller.user_id,
        stream_id = %key.stream_id, session_id = session.session_id(), "WHIP/WHEP session started");
    let leg = match kind {
        Kind::Whip => Leg::Publish(key),
        Kind::Whep => Leg::Play(key),
    };
    let registry = Arc::clone(resources);
    let id = resource_id.clone();
    session.keep(leg, stopped, move || {
        registry.lock().remove(&id);
    });
    let mut response = (StatusCode::CREATED, answer).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{resource_id}\"")) {
        h.insert(header::ETAG, v);
    }
    cors(h);
    Ok(response)
}

/// WHIP: announce the stream, then negotiate its publisher connection.
async fn publish(
    session: &mut Session,
    stream_id: &str,
    offer: String,
) -> Result<String, ErrorCode> {
    session
        .request(|request_id| ClientMessage::PublishStream {
            request_id,
            stream_id: stream_id.to_owned(),
            extra_info: String::new(),
            audio_muted: false,
            video_muted: false,
        })
        .await?;
    offer_sdp(session, stream_id, MediaRole::Publish, offer).await
}

/// WHEP: subscribe, wait for the stream to be live, then negotiate.
async fn play(
    session: &mut Session,
    stream_id: &str,
    max_layer: VideoLayer,
    offer: String,
) -> Result<String, ErrorCode> {
    match session
        .request(|request_id| ClientMessage::PlayStream {
            request_id,
            stream_id: stream_id.to_owned(),
            max_layer,
        })
        .await?
    {
        ServerMessage::Ack {
            body: AckBody::PlayAccepted { .. },
            ..
        } => {}
        _ => return Err(ErrorCode::Internal),
    }
    if !session.wait_ready(READY_TIMEOUT).await {
        return Err(ErrorCode::StreamNotLive);
    }
    offer_sdp(session, stream_id, MediaRole::Play, offer).await
}

async fn offer_sdp(
    session: &mut Session,
    stream_id: &str,
    role: MediaRole,
    sdp: String,
) -> Result<String, ErrorCode> {
    match session
        .request(|request_id| ClientMessage::SdpOffer {
            request_id,
            stream_id: stream_id.to_owned(),
            role,
            sdp,
        })
        .await?
    {
        ServerMessage::SdpAnswer { sdp, .. } => Ok(sdp),
        _ => Err(ErrorCode::Internal),
    }
}

/// The bearer token's app and user, checked for `room_id` (signature,
/// expiry, room, login privilege) before the session logs in with it. An
/// invite token gets a user ID of its own.
fn caller(state: &ServerState, headers: &HeaderMap, room_id: &str) -> Result<Caller, Refused> {
    let token = crate::admin_api::bearer(headers).ok_or(Refused(ErrorCode::TokenMalformed))?;
    let claims: TokenClaims = if token.starts_with(LEGACY_PREFIX) {
        protocol::token::peek(token).map_err(|e| e.code())?
    } else {
        crate::jwt::peek(token)
            .map_err(|e| e.code())?
            .login_claims()
    };
    let user_id = if claims.is_invite() {
        format!("guest-{:04x}", rand::random::<u16>())
    } else {
        claims.user_id.clone()
    };
    let claim = crate::apps::LoginClaim {
        app_id: claims.app_id,
        room_id,
        user_id: &user_id,
    };
    let auth = state.apps().check_token(claim, token, unix_now())?;
    Ok(Caller {
        app_id: claims.app_id,
        user_id,
        token: token.to_owned(),
        may_publish: auth.may_publish,
    })
}

async fn delete_whip(
    Extension(resources): Extension<Arc<Resources>>,
    Path(at): Path<(String, String, String)>,
) -> Response {
    delete(&resources, Kind::Whip, at).await
}

async fn delete_whep(
    Extension(resources): Extension<Arc<Resources>>,
    Path(at): Path<(String, String, String)>,
) -> Response {
    delete(&resources, Kind::Whep, at).await
}

/// Ends a resource: its session logs out (the room gets the Deletes)
/// before the `200 OK`.
async fn delete(
    resources: &Resources,
    kind: Kind,
    (room_id, stream_id, resource_id): (String, String, String),
) -> Response {
    let found = {
        let mut live = resources.lock();
        let matches = live
            .get(&resource_id)
            .is_some_and(|r| r.kind == kind && r.room_id == room_id && r.stream_id == stream_id);
        if matches {
            live.remove(&resource_id)
        } else {
            None
        }
    };
    let Some(resource) = found else {
        return Refused(ErrorCode::StreamNotFound).into_response();
    };
    let (done, logged_out) = oneshot::channel();
    if resource.stop.send(done).is_ok() {
        let _ = tokio::time::timeout(DELETE_TIMEOUT, logged_out).await;
    }
    let mut response = StatusCode::OK.into_response();
    cors(response.headers_mut());
    response
}

/// `307 Temporary Redirect` to the same path and query on the node whose
/// signaling URL is `node_url` (`ws://host:port/ws` -> `http://host:port`).
fn redirect(node_url: &str, uri: &Uri) -> Result<Response, Refused> {
    let origin = http_origin(node_url).ok_or_else(|| {
        tracing::warn!(node_url, "a node URL without a ws:// or wss:// origin");
        Refused(ErrorCode::Internal)
    })?;
    let to = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let location = HeaderValue::from_str(&format!("{origin}{to}"))
        .map_err(|_| Refused(ErrorCode::Internal))?;
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    cors(h);
    Ok(response)
}

/// The HTTP origin of a node's signaling URL: `ws` becomes `http`, `wss`
/// becomes `https`, the path is dropped.
fn http_origin(node_url: &str) -> Option<String> {
    let (scheme, rest) = node_url.split_once("://")?;
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}"))
}

/// `PATCH` (trickle ICE, ICE restart) and `POST` on a resource.
async fn not_allowed() -> Response {
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    let h = response.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    cors(h);
    response
}

/// CORS preflight (browsers on other origins).
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, DELETE, PATCH, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    cors(h);
    response
}

fn cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location, ETag"),
    );
}

fn unsupported_media_type() -> Response {
    let mut response = Refused(ErrorCode::MalformedMessage).into_response();
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response
}

fn negotiation_failed(kind: Kind) -> Refused {
    Refused(match kind {
        Kind::Whip => ErrorCode::PublishNegotiationFailed,
        Kind::Whep => ErrorCode::PlayNegotiationFailed,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_url_gives_its_http_origin() {
        let origin = http_origin;
        assert_eq!(
            origin("ws://127.0.0.1:7880/ws").as_deref(),
            Some("http://127.0.0.1:7880")
        );
        assert_eq!(
            origin("wss://sfu.example.com/ws?x=1").as_deref(),
            Some("https://sfu.example.com")
        );
        assert_eq!(origin("http://h/ws"), None);
        assert_eq!(origin("ws:///ws"), None);
    }

    #[test]
    fn a_redirect_keeps_the_path_and_query() {
        let uri: Uri = "/whep/r/s?layer=low".parse().expect("a URI");
        let response = redirect("ws://10.0.0.2:9000/ws", &uri).expect("a redirect");
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://10.0.0.2:9000/whep/r/s?layer=low"
        );
    }
}
