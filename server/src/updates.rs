//! `GET /updates/{path}`: a directory of static files served read-only, the
//! desktop app's self-hosted update channel (`latest.json` and the signed
//! bundles it points at; `confer serve --update-feed DIR`).
//!
//! Only plain relative paths inside the directory are served: no `..`, no
//! hidden files, nothing outside it (symlinks pointing out are refused).
//! Anything else, and every request when no feed is configured, answers 404
//! with [`ErrorCode::UpdateFileNotFound`] as JSON `{code, name, message}`.

use crate::state::ServerState;
use crate::web::ApiError;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use protocol::ErrorCode;
use std::path::{Component, Path, PathBuf};

/// The feed's routes, merged into the server's router.
pub(crate) fn routes() -> Router<ServerState> {
    Router::new().route("/updates/{*path}", get(file))
}

async fn file(State(state): State<ServerState>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(root) = state.config().update_feed.clone() else {
        return not_found();
    };
    let read = tokio::task::spawn_blocking(move || {
        let file = resolve(&root, &path)?;
        std::fs::read(&file).ok().map(|bytes| (file, bytes))
    });
    match read.await {
        Ok(Some((file, bytes))) => {
            ([(header::CONTENT_TYPE, content_type(&file))], bytes).into_response()
        }
        Ok(None) => not_found(),
        Err(error) => {
            tracing::warn!(%error, "update feed read task failed");
            not_found()
        }
    }
}

/// The file `path` names under `root`, if it is a plain relative path to a
/// regular file that really lies inside `root`.
pub(crate) fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let plain = relative.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if !plain || path.is_empty() || path.contains('\\') {
        return None;
    }
    let root = std::fs::canonicalize(root).ok()?;
    let file = std::fs::canonicalize(root.join(relative)).ok()?;
    let meta = std::fs::metadata(&file).ok()?;
    (file.starts_with(&root) && meta.is_file()).then_some(file)
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("sig") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ApiError::of(ErrorCode::UpdateFileNotFound)),
    )
        .into_response()
}
