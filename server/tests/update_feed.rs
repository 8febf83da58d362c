//! `GET /updates/{path}`: the static update feed (`confer serve
//! --update-feed DIR`): files inside the directory, typed 404s for the rest.
#![allow(clippy::unwrap_used)]

use protocol::ErrorCode;
use test_support::TestServer;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("confer-feed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_typed_404(response: &str) {
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let code = ErrorCode::UpdateFileNotFound.code().to_string();
    assert!(response.contains(&format!("\"code\":{code}")), "{response}");
}

#[tokio::test]
async fn serves_feed_files_and_nothing_else() {
    let base = temp_dir("serve");
    let feed = base.join("feed");
    std::fs::create_dir_all(feed.join("v0.2.0")).unwrap();
    std::fs::write(feed.join("latest.json"), r#"{"version":"0.2.0"}"#).unwrap();
    std::fs::write(feed.join("v0.2.0/Confer_0.2.0_amd64.deb"), b"deb bytes").unwrap();
    std::fs::write(feed.join(".hidden"), b"no").unwrap();
    std::fs::write(base.join("secret.txt"), b"outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(base.join("secret.txt"), feed.join("link.txt")).unwrap();

    let dir = feed.clone();
    let server = TestServer::start_with(move |config| config.update_feed = Some(dir)).await;
    let latest = server.http_get_ok("/updates/latest.json").await;
    assert!(
        latest.contains("content-type: application/json"),
        "{latest}"
    );
    assert!(latest.ends_with(r#"{"version":"0.2.0"}"#), "{latest}");
    let deb = server
        .http_get_ok("/updates/v0.2.0/Confer_0.2.0_amd64.deb")
        .await;
    assert!(deb.contains("content-length: 9"), "{deb}");
    assert!(deb.ends_with("deb bytes"), "{deb}");

    for path in [
        "/updates/missing.json",
        "/updates/../secret.txt",
        "/updates/%2e%2e/secret.txt",
        "/updates/v0.2.0/..%2f..%2fsecret.txt",
        "/updates/%2fetc%2fpasswd",
        "/updates/.hidden",
        "/updates/link.txt",
        "/updates/v0.2.0",
    ] {
        let response = server.http_get(path).await;
        assert_typed_404(&response);
        assert!(!response.contains("outside"), "{path}: {response}");
    }
    server.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test]
async fn without_a_feed_every_update_path_is_a_typed_404() {
    let server = TestServer::start_with(|_| {}).await;
    assert_typed_404(&server.http_get("/updates/latest.json").await);
    server.handle.shutdown().await;
}
