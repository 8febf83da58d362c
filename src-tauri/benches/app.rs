//! The desktop app's figures, one per line, under Xvfb with tauri-driver
//! (`make bench-app`):
//!
//! - cold start (process launch to the interactive home screen);
//! - "Host a call" to the call screen, and a participant's launch to its
//!   first frame shown in the app;
//! - the app's CPU with one remote 720p30 tile, on the native surface path
//!   and on the canvas fallback (`CONFER_RENDER=canvas`), in the same run;
//! - the app's memory with 4 remote tiles.
//!
//! CPU and memory count the app process and its WebKit child processes.

use confer_app_driver::app::{self, RunningApp};
use confer_app_driver::participant::Participant;
use serde_json::Value;
use std::time::{Duration, Instant};
use test_support::proc_stat;

const LONG: Duration = Duration::from_secs(60);
const COLD_STARTS: usize = 3;
const CPU_WINDOW: Duration = Duration::from_secs(10);

fn main() {
    if let Some(why) = app::skip_reason() {
        test_support::skip("app bench", why);
        return;
    }
    cold_start();
    let native = tile_cpu("native", &[]);
    let canvas = tile_cpu("canvas", &[("CONFER_RENDER", "canvas")]);
    println!("app_cpu_canvas_over_native_ratio {:.2}", canvas / native);
    memory_with_tiles(4);
}

fn wait_home(app: &RunningApp) {
    app.ui().wait_for(
        "the home screen",
        LONG,
        "const h = document.querySelector('[data-screen=\"home\"]');
         return !!h && !h.hidden && !!document.querySelector('#host-call:not([disabled])');",
    );
}

fn cold_start() {
    let mut samples = Vec::new();
    for i in 0..COLD_STARTS {
        let started = Instant::now();
        let app = RunningApp::start(&format!("cold{i}"), settings(), &[]);
        wait_home(&app);
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    for (i, s) in samples.iter().enumerate() {
        println!("app_cold_start_to_home_ms_sorted_{i} {s:.0}");
    }
    println!(
        "app_cold_start_to_home_p50_ms {:.0}",
        samples[samples.len() / 2]
    );
}

fn settings() -> Value {
    app::host_settings("host", "Host", "dark")
}

/// Hosts a call; returns the participant arguments for joining it.
fn host(app: &RunningApp) -> Vec<String> {
    let clicked = Instant::now();
    app.ui().click("#host-call");
    let invite = app.ui().wait_for(
        "the invite details",
        LONG,
        "const i = document.querySelector('#invite');
         return i && i.dataset.server ? {...i.dataset} : null;",
    );
    println!(
        "app_host_to_call_ready_ms {:.0}",
        clicked.elapsed().as_secs_f64() * 1000.0
    );
    let mut args = app::invite_args(&invite);
    args.extend([
        "--media-ip".into(),
        "127.0.0.1".into(),
        "--audio".into(),
        "none".into(),
    ]);
    args
}

fn join(base: &[String], user: &str, preset: &str) -> Participant {
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    let stream = format!("{user}-main");
    args.extend(["--user", user, "--publish", &stream, "--preset", preset]);
    Participant::spawn(&app::confer_binary(), &args)
}

/// Waits until the app shows the first frame of `user`'s stream.
fn wait_rendering(app: &RunningApp, user: &str) {
    app.ui().wait_for(
        "a remote frame shown",
        LONG,
        &format!(
            "return !!document.querySelector('.tile[data-user-id=\"{user}\"][data-rendering]');"
        ),
    );
}

/// The app's CPU (percent of one core, the app process and its WebKit
/// processes together) over [`CPU_WINDOW`].
fn app_cpu_percent() -> f64 {
    let pids = app::app_processes(app::app_pid().expect("the app's pid"));
    let ticks_now = || pids.iter().map(|&p| proc_stat::cpu_ticks(p)).sum::<u64>();
    let t0 = ticks_now();
    std::thread::sleep(CPU_WINDOW);
    let ticks = ticks_now().saturating_sub(t0);
    ticks as f64 / proc_stat::TICKS_PER_SECOND / CPU_WINDOW.as_secs_f64() * 100.0
}

/// What one remote 720p30 tile adds to the app's CPU (percent of one core):
/// the app in a call (publishing and previewing its own test pattern)
/// before and after a 720p30 participant joins. Returns the added part.
fn tile_cpu(path: &str, env: &[(&str, &str)]) -> f64 {
    let app = RunningApp::start(&format!("cpu-{path}"), settings(), env);
    wait_home(&app);
    let base = host(&app);
    std::thread::sleep(Duration::from_secs(3));
    let alone = app_cpu_percent();
    println!("app_cpu_percent_in_call_no_remote_{path} {alone:.1}");
    let launched = Instant::now();
    let _peer = join(&base, "p720", "720p");
    wait_rendering(&app, "p720");
    println!(
        "app_{path}_participant_launch_to_first_remote_frame_ms {:.0}",
        launched.elapsed().as_secs_f64() * 1000.0
    );
    std::thread::sleep(Duration::from_secs(3));
    let with_tile = app_cpu_percent();
    println!("app_cpu_percent_in_call_one_720p30_tile_{path} {with_tile:.1}");
    let added = with_tile - alone;
    println!("app_cpu_percent_per_720p30_tile_{path} {added:.1}");
    added
}

fn memory_with_tiles(n: usize) {
    let app = RunningApp::start("memory", settings(), &[]);
    wait_home(&app);
    let base = host(&app);
    let pids = app::app_processes(app::app_pid().expect("the app's pid"));
    let rss_mb = || pids.iter().map(|&p| proc_stat::rss_kb(p)).sum::<u64>() as f64 / 1024.0;
    std::thread::sleep(Duration::from_secs(2));
    println!("app_rss_in_call_no_tiles_mb {:.1}", rss_mb());
    let users: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let _peers: Vec<Participant> = users.iter().map(|u| join(&base, u, "360p")).collect();
    for u in &users {
        wait_rendering(&app, u);
    }
    std::thread::sleep(Duration::from_secs(5));
    println!("app_rss_{n}_remote_360p_tiles_mb {:.1}", rss_mb());
}
