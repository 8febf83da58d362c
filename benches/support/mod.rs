//! What the benches share: `confer serve` as a separate process (so its CPU
//! and memory can be read apart from the clients', with
//! `test_support::proc_stat`), and percentiles.
// Each bench uses a different subset.
#![allow(dead_code)]

mod peer;
#[allow(unused_imports)] // only the benches with in-process engines
pub(crate) use peer::Peer;
pub(crate) use test_support::block_on;
#[allow(unused_imports)] // not every bench reads CPU time
pub(crate) use test_support::proc_stat::{self, TICKS_PER_SECOND};

use server::{AppConfig, ServerConfig};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A `confer serve` child process with a fresh local config.
pub(crate) struct ServerProcess {
    child: Child,
    dir: PathBuf,
    /// Its process ID.
    pub(crate) pid: u32,
    /// Its signaling URL.
    pub(crate) url: String,
    /// The app registered on it.
    pub(crate) app: AppConfig,
}

impl ServerProcess {
    /// Starts the server on 127.0.0.1 (any port) and waits for its URL.
    pub(crate) async fn start(name: &str) -> ServerProcess {
        Self::start_with(name, |_| {}).await
    }

    /// Like [`start`](Self::start), after `tweak` adjusts the config.
    pub(crate) async fn start_with(
        name: &str,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> ServerProcess {
        let dir = std::env::temp_dir().join(format!("confer-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = ServerConfig::generate_local();
        config.bind = "127.0.0.1:0".parse().expect("literal address");
        tweak(&mut config);
        let app = config.apps[0].clone();
        let path = dir.join("server.toml");
        std::fs::write(&path, config.to_toml()).expect("write config");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_confer"))
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn confer serve");
        let pid = child.id().expect("server pid");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("server printed its URL");
            if let Some(url) = line.strip_prefix("Confer server listening on ") {
                break url.trim().to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess {
            child,
            dir,
            pid,
            url,
            app,
        }
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> u64 {
        proc_stat::cpu_ticks(self.pid)
    }

    /// Resident memory, KiB.
    pub(crate) fn rss_kb(&self) -> u64 {
        proc_stat::rss_kb(self.pid)
    }

    /// Stops the server and removes its config.
    pub(crate) fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `p` quantile (0..=1) of sorted samples; NaN when empty.
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
