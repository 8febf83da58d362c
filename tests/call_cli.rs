//! `confer call` as a headless participant with media: it plays every stream
//! in the room (`--play auto`) and saves what it received
//! (`--save-received`): the saved video carries the publisher's frame
//! numbers, the saved audio its tone. A normal call prints no warning on
//! the user's terminal but about missing devices (the WebRTC libraries'
//! expected ones stay quiet).

use media_core::capture::barcode;
use media_core::capture::tone::dominant_frequency;
use media_core::capture::y4m::Y4mReader;
use std::process::Stdio;
use std::time::Duration;
use test_support::{cli, Peer, TestServer};

/// The WebRTC libraries' warnings a normal call used to print, each about
/// something the SDK did too early: writing RTP before SRTP was keyed,
/// applying an answer (which starts ICE checks) before any of the SFU's
/// candidates were known. (rtc-dtls's "conn.remote_addr is empty", on
/// every DTLS client, cannot be prevented from our side: rtc gives its DTLS
/// config no peer address and has no server-name setting, and a publisher
/// is the DTLS client since the SFU answers its legs `a=setup:passive`. It
/// stays behind the default log filter.)
const PREVENTED_LIBRARY_WARNINGS: [&str; 2] = [
    "local_srtp_context is not set yet",
    "pingAllCandidates called with no candidate pairs",
];

/// What a finished [`call`] left: its stderr and the folder it saved the
/// received media in.
struct Call {
    stderr: String,
    dir: std::path::PathBuf,
}

/// Runs `confer call` (publishing, playing every stream, saving what it
/// received) with `rust_log` as its `RUST_LOG` (none: the default filter)
/// while an SDK peer publishes `a-cam` to it; returns once it rendered
/// `a-cam` and saved 3 s more, stopped as a user stops it.
async fn call(server: &TestServer, rust_log: Option<&str>) -> Call {
    let dir = std::env::temp_dir().join(format!(
        "confer-saved-{}-{}",
        std::process::id(),
        rust_log.is_some()
    ));
    let _ = std::fs::remove_dir_all(&dir);

    std::fs::create_dir_all(&dir).expect("temp dir");
    let stderr_path = dir.join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut command = cli::confer_call(server, "cli-room", "cli");
    command
        .args(["--play", "auto", "--publish", "cli-cam", "--save-received"])
        .arg(&dir)
        .stderr(Stdio::from(stderr));
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    let mut child = command.spawn().expect("spawn confer call");
    let mut lines = cli::stdout_lines(&mut child);

    let mut a = Peer::join(server.profile(), "cli-room", "a", false).await;
    a.publish("a-cam").await;
    // The child reports playing and rendering as JSON lines.
    let rendered = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
            if v["event"] == "PlayerRenderVideoFirstFrame" && v["stream_id"] == "a-cam" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(rendered, Ok(true), "confer call never rendered a-cam");
    cli::drain(lines);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let status = cli::terminate(&mut child).await;
    assert!(status.success(), "{status:?}");
    a.engine.destroy().await;
    let stderr = std::fs::read_to_string(&stderr_path).expect("stderr");
    Call { stderr, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_plays_and_saves_what_it_received() {
    let server = TestServer::start().await;
    let Call { stderr, dir } = call(&server, None).await;
    // A missing device is worth a warning (this machine may have no
    // speaker); nothing else in a normal call is.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .filter(|l| !l.contains("media_core::capture"))
        .collect();
    assert!(
        warnings.is_empty(),
        "a normal call printed {} warnings:\n{}",
        warnings.len(),
        warnings.join("\n")
    );

    let mut video = Y4mReader::open(dir.join("a-cam.y4m")).expect("saved video");
    let mut numbers = Vec::new();
    for _ in 0..200 {
        let Ok(frame) = video.next_frame() else { break };
        match barcode::read(&frame) {
            Some(stamp) if numbers.last().is_some_and(|&n| stamp.frame_number <= n) => break, // looped
            Some(stamp) => numbers.push(stamp.frame_number),
            None => {}
        }
    }
    assert!(
        numbers.len() >= 20,
        "only {} stamped frames saved",
        numbers.len()
    );

    let wav = std::fs::read(dir.join("a-cam.wav")).expect("saved audio");
    assert_eq!(&wav[..4], b"RIFF");
    let samples: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(
        samples.len() >= 48_000,
        "only {} samples saved",
        samples.len()
    );
    let f = dominant_frequency(&samples[samples.len() - 48_000..], 1, 48_000).expect("a tone");
    assert!((f - 440.0).abs() <= 440.0 * 0.02, "saved tone at {f} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The quiet default is not what hides these: with the WebRTC libraries
/// logging at WARN, a normal call still prints none of the warnings the SDK
/// used to cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_causes_no_webrtc_library_warnings() {
    let server = TestServer::start().await;
    let Call { stderr, dir } = call(&server, Some("warn")).await;
    for warning in PREVENTED_LIBRARY_WARNINGS {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(warning)).collect();
        assert!(
            lines.is_empty(),
            "a normal call printed {} x \"{warning}\":\n{}",
            lines.len(),
            lines.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
