//! `confer impair` as a process: it relays UDP through the conditions it is
//! given, refuses bad specs with a clear message, and reports its counters
//! when stopped.

use std::process::Stdio;
use std::time::{Duration, Instant};
use test_support::cli::{confer_bin, stdout_lines, terminate};
use tokio::net::UdpSocket;
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn the_relay_process_delays_each_direction_and_counts_what_it_lost() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.expect("bind echo");
    let target = echo.local_addr().expect("echo addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..len], from).await;
        }
    });
    // A free port for the relay: bind, read, release.
    let listen = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("probe port")
        .local_addr()
        .expect("port");
    let schedule = std::env::temp_dir().join(format!("impair-cli-{}.txt", std::process::id()));
    // Both ways 30 ms; from 1 s on, everything up is lost.
    std::fs::write(&schedule, "0 delay=30ms\n1s blackout\n").expect("schedule file");
    let mut child = Command::new(confer_bin())
        .args(["impair", "--listen", &listen.to_string()])
        .args(["--target", &target.to_string()])
        .arg("--schedule")
        .arg(&schedule)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn confer impair");
    let mut lines = stdout_lines(&mut child);
    let ready = timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the relay starts")
        .expect("stdout")
        .expect("a first line");
    assert!(ready.contains("listening"), "{ready}");

    let client = UdpSocket::bind("127.0.0.1:0").await.expect("client");
    client.connect(listen).await.expect("connect");
    let mut buf = [0u8; 64];
    let sent = Instant::now();
    client.send(b"ping").await.expect("send");
    let len = timeout(Duration::from_secs(5), client.recv(&mut buf))
        .await
        .expect("the echo comes back through the relay")
        .expect("recv");
    assert_eq!(&buf[..len], b"ping");
    assert!(
        sent.elapsed() >= Duration::from_millis(60),
        "{:?}",
        sent.elapsed()
    );

    tokio::time::sleep_until((sent + Duration::from_millis(1500)).into()).await;
    for _ in 0..3 {
        client.send(b"into the blackout").await.expect("send");
    }
    let lost = timeout(Duration::from_millis(500), client.recv(&mut buf)).await;
    assert!(lost.is_err(), "the scheduled blackout lets nothing through");

    assert!(terminate(&mut child).await.success());
    let mut report = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        report.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON line"));
    }
    let up = report
        .iter()
        .find(|r| r["direction"] == "up")
        .expect("up counters");
    assert_eq!(up["sent"], 4);
    assert_eq!(up["delivered"], 1);
    assert_eq!(up["lost"], 3);
    let _ = std::fs::remove_file(&schedule);
}

#[tokio::test]
async fn a_bad_spec_is_refused_with_the_key_named() {
    let out = Command::new(confer_bin())
        .args([
            "impair",
            "--listen",
            "127.0.0.1:0",
            "--target",
            "127.0.0.1:9",
        ])
        .args(["--down", "loss=150%"])
        .output()
        .await
        .expect("run confer impair");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--down") && stderr.contains("150%") && stderr.contains("loss"),
        "{stderr}"
    );
}
