//! WHIP and WHEP refusals: the HTTP status each error code is answered
//! with, and the JSON body (`{code, name, message}`, as the server API's).

use crate::web::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::ErrorCode;

/// A refused WHIP or WHEP request: its code (the status follows from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} ({})", .0.name(), .0.code())]
pub struct Refused(pub ErrorCode);

/// The HTTP status a refusal with `code` is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::TokenMalformed
        | E::TokenForged
        | E::TokenExpired
        | E::TokenWrongApp
        | E::TokenWrongUser
        | E::TokenAlgorithmRefused
        | E::TokenTooLarge
        | E::TokenLifetimeTooLong
        | E::TokenNotYetValid
        | E::AppNotFound => StatusCode::UNAUTHORIZED,
        E::TokenWrongRoom | E::TokenNoLoginPrivilege | E::TokenNoPublishPrivilege => {
            StatusCode::FORBIDDEN
        }
        E::InvalidRoomId
        | E::InvalidStreamId
        | E::InvalidUserId
        | E::InvalidUserName
        | E::MalformedMessage
        | E::PublishNegotiationFailed
        | E::PlayNegotiationFailed => StatusCode::BAD_REQUEST,
        E::RoomNotFound | E::StreamNotFound | E::StreamNotLive | E::ApiNotFound => {
            StatusCode::NOT_FOUND
        }
        E::StreamIdInUse | E::UserIdInUse => StatusCode::CONFLICT,
        E::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        E::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        E::RoomFull
        | E::TooManyRooms
        | E::TooManyUsers
        | E::TooManyConnections
        | E::ServerShuttingDown
        | E::PublishTransportFailed
        | E::PlayTransportFailed
        | E::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = status_of(self.0);
        let mut response = (status, Json(ApiError::of(self.0))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ErrorCode> for Refused {
    fn from(code: ErrorCode) -> Self {
        Refused(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_documented_table() {
        assert_eq!(status_of(ErrorCode::TokenForged), StatusCode::UNAUTHORIZED);
        assert_eq!(status_of(ErrorCode::TokenWrongRoom), StatusCode::FORBIDDEN);
        assert_eq!(
            status_of(ErrorCode::TokenNoPublishPrivilege),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status_of(ErrorCode::StreamNotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(ErrorCode::PublishNegotiationFailed),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(ErrorCode::MessageTooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(status_of(ErrorCode::StreamIdInUse), StatusCode::CONFLICT);
        let response = Refused(ErrorCode::TokenExpired).into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
