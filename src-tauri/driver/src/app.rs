//! The app under test: tauri-driver started with an isolated config
//! directory, a WebDriver session on the app, and where the binaries and
//! artifacts are.

use crate::webdriver::Session;
use serde_json::json;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The app binary beside the running test or bench: cargo builds it into
/// the profile's folder, and the test target into its `deps/` folder.
pub fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps/")
        .join("confer-app")
}

/// The `confer` CLI, built beside the app by `cargo test --workspace`.
pub fn confer_binary() -> PathBuf {
    let path = app_binary().with_file_name("confer");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --bin confer`",
        path.display()
    );
    path
}

/// Where screenshots are kept: `$CONFER_ARTIFACTS` (set by `make test`) or
/// `target/artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("CONFER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| app_binary().with_file_name("artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Why the E2E cannot run here, if it cannot: no X display. (A missing
/// tauri-driver is a failure, not a skip: `make test` installs it.)
pub fn skip_reason() -> Option<&'static str> {
    std::env::var_os("DISPLAY")
        .is_none()
        .then_some("DISPLAY is not set; run it under xvfb-run (as `make test` does)")
}

fn tauri_driver() -> PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let in_tools = app_binary()
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("tools/bin/tauri-driver"));
    in_tools
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running app: its driver process, its WebDriver session and its
/// config directory.
pub struct RunningApp {
    driver: Child,
    /// The WebDriver session (None once closed).
    session: Option<Session>,
    /// `$XDG_CONFIG_HOME` the app was started with.
    pub config_home: PathBuf,
    /// How long from asking for a session to the session being ready.
    pub session_started_in: Duration,
}

impl RunningApp {
    /// Starts the app with `settings` pre-seeded as its saved settings
    /// (the JSON object of `app-settings.json`) and extra `env`.
    pub fn start(name: &str, settings: serde_json::Value, env: &[(&str, &str)]) -> RunningApp {
        Self::start_binary(&app_binary(), name, settings, env)
    }

    /// [`start`](Self::start) for another build of the app at `binary`
    /// (e.g. the one a .deb installed in /usr/bin).
    pub fn start_binary(
        binary: &Path,
        name: &str,
        settings: serde_json::Value,
        env: &[(&str, &str)],
    ) -> RunningApp {
        let config_home =
            std::env::temp_dir().join(format!("confer-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&config_home);
        let dir = config_home.join("confer");
        std::fs::create_dir_all(&dir).expect("config dir");
        std::fs::write(dir.join("app-settings.json"), settings.to_string()).expect("settings");

        let (port, native_port) = (free_port(), free_port());
        let driver_path = tauri_driver();
        let mut command = Command::new(&driver_path);
        command
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .env("XDG_CONFIG_HOME", &config_home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the WebKitWebDriver it spawns (and
            // the app under it) go with it.
            .process_group(0);
        for (k, v) in env {
            command.env(k, v);
        }
        let driver = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}); `make test` builds it into target/tools, or set TAURI_DRIVER",
                driver_path.display()
            )
        });
        let mut app = RunningApp {
            driver,
            session: None,
            config_home,
            session_started_in: Duration::ZERO,
        };
        // tauri-driver, then the WebKitWebDriver it starts, must listen; on
        // a loaded machine the first session request can still find the
        // native driver not ready (an EOF), so it is asked a few times.
        // (A panic here drops `app`, which ends the driver's process group.)
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in [port, native_port] {
            while TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "the WebDriver on port {p} never listened"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let asked = Instant::now();
        let mut attempt = 1;
        let session = loop {
            match Session::start(port, &binary.to_string_lossy()) {
                Ok(session) => break session,
                Err(error) if attempt < 3 => {
                    eprintln!("attempt {attempt}: {error}; asking again");
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(error) => panic!("{error}"),
            }
        };
        app.session = Some(session);
        app.session_started_in = asked.elapsed();
        app
    }

    /// The WebDriver session.
    pub fn ui(&self) -> &Session {
        self.session.as_ref().expect("session open")
    }

    /// Closes the app window through WebDriver.
    pub fn close(&mut self) {
        if let Some(s) = self.session.take() {
            s.close();
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.close();
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.config_home);
    }
}

/// Saved settings for a test user who hosts with the test pattern.
pub fn host_settings(user_id: &str, name: &str, theme: &str) -> serde_json::Value {
    json!({
        "user_id": user_id,
        "name": name,
        "video_source": "test_pattern",
        "video_preset": "360p",
        "host_scope": "this_computer",
        "theme": theme,
    })
}

/// The pid of the running app binary (the one process whose executable is
/// [`app_binary`]); `None` before it started or after it exited.
pub fn app_pid() -> Option<u32> {
    let exe = app_binary().canonicalize().ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
}

/// The app's process and its direct children (WebKit's web and network
/// processes), so CPU and memory include the page's work too.
pub fn app_processes(app: u32) -> Vec<u32> {
    let mut pids = vec![app];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for pid in dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Field 4 (after the ")" that ends the command name) is the parent pid.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(app) {
            pids.push(pid);
        }
    }
    pids
}

/// `confer call` arguments that join the call an invite box describes
/// (`{...#invite.dataset}`): its server, AppID, room and the invite's
/// room-scoped token (never an AppSign), pinning the certificate when the
/// call is served over TLS.
pub fn invite_args(invite: &serde_json::Value) -> Vec<String> {
    let text = |k: &str| invite[k].as_str().unwrap_or_default().to_owned();
    assert!(
        invite.get("appSign").is_none(),
        "an invite never carries the AppSign: {invite}"
    );
    let token = text("token");
    assert!(token.starts_with("eyJ"), "the invite has a JWT: {invite}");
    let mut args = vec![
        "--server".to_owned(),
        text("server"),
        "--app-id".to_owned(),
        text("appId"),
        "--token".to_owned(),
        token,
        "--room".to_owned(),
        text("room"),
    ];
    let fingerprint = text("fingerprint");
    if !fingerprint.is_empty() {
        args.extend(["--pin".to_owned(), fingerprint]);
    }
    args
}
