//! The release path end to end, as root under Xvfb (`make test-dist`, which
//! builds the bundles first with `scripts/test-dist.sh`): install version N
//! from its .deb with dpkg, launch the installed `/usr/bin/confer-app`
//! through tauri-driver and see the home screen; then drive the app's own
//! updater through its UI against a loopback feed served by `confer serve
//! --update-feed`:
//!
//! 1. a feed offering the running version: "up to date";
//! 2. no feed file: the check fails with `UpdateFeedUnreachable`;
//! 3. version N+1 with a tampered .deb, then a truncated one: refused with
//!    `UpdateSignatureInvalid`, shown in the UI, N keeps running;
//! 4. version N+1 as built and signed: downloaded, installed, relaunched:
//!    the new process runs the new binary, dpkg says N+1 and the UI shows it;
//!
//! then uninstall with dpkg. Prints `update_download_size_mb`,
//! `update_available_to_new_version_running_ms` and the debug
//! `deb_bundle_size_mb`.
//!
//! Without `CONFER_DIST_OLD_DEB` (plain `cargo test`) it skips: it needs the
//! bundles and root.

use confer_app_driver::app::{self, RunningApp};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALLED: &str = "/usr/bin/confer-app";
const WAIT: Duration = Duration::from_secs(60);

/// Clicks the banner's Update until the banner takes it: the button
/// disables at once (or the refusal is already shown). WebKit can drop a
/// click that lands while the banner is still being laid out; one such
/// dropped click once left the offer standing until the wait ran out.
fn click_update(running: &RunningApp) {
    let taken = "const b = document.getElementById('update-install');
                 const banner = document.getElementById('update-banner');
                 return !b || b.disabled || !!(banner && banner.dataset.errorCode);";
    for _ in 0..3 {
        running.ui().click("#update-install");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if running.ui().exec(taken, json!([])) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("the update banner never took the Update click");
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn deb_field(deb: &Path, field: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))
}

/// The installed version of `package`, or None.
fn installed_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("install ok installed ")
        .map(|v| v.trim().to_owned())
}

/// Pids whose executable is exactly the installed binary (a replaced one
/// reads "... (deleted)").
fn installed_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == Path::new(INSTALLED))
        })
        .collect()
}

/// `confer serve --update-feed DIR` on a free loopback port; its base URL.
struct Feed {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Feed {
    fn start(work: &Path) -> Feed {
        let dir = work.join("feed");
        std::fs::create_dir_all(&dir).expect("feed dir");
        let mut child = Command::new(app::confer_binary())
            .arg("serve")
            .arg("--config")
            .arg(work.join("server.toml"))
            .args(["--bind", "127.0.0.1:0", "--update-feed"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("confer serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut base = None;
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("serve output");
            if let Some(rest) = line.trim().strip_prefix("updates: ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                base = url.strip_suffix("/latest.json").map(str::to_owned);
                break;
            }
        }
        // Keep reading: a closed pipe would end the server at its next line.
        std::thread::spawn(move || lines.for_each(drop));
        let base = base.expect("confer serve printed no update feed URL");
        Feed { child, dir, base }
    }

    fn latest_url(&self) -> String {
        format!("{}/latest.json", self.base)
    }

    /// Publishes `deb` (signed by `sig`) as `version` in latest.json.
    fn publish(&self, version: &str, deb: &Path, sig: &str, name: &str) {
        std::fs::copy(deb, self.dir.join(name)).expect("copy deb into the feed");
        let latest = json!({
            "version": version,
            "notes": format!("Confer {version}: test release notes."),
            "pub_date": "2026-11-27T12:00:00Z",
            "platforms": {
                "linux-x86_64-deb": {
                    "signature": sig,
                    "url": format!("{}/{name}", self.base),
                }
            }
        });
        std::fs::write(self.dir.join("latest.json"), latest.to_string()).expect("latest.json");
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The banner's state, as the UI shows it.
fn banner(app: &RunningApp) -> serde_json::Value {
    app.ui().exec(
        "const b = document.getElementById('update-banner');
         return b ? {hidden: b.hidden, text: b.innerText, error: b.dataset.errorCode || null,
                     version: b.dataset.version || null} : null;",
        json!([]),
    )
}

/// Closes the banner if open, clicks "Check for updates" and waits until
/// `done` (a JS expression over `b`, the banner) holds.
fn check(app: &RunningApp, what: &str, done: &str) {
    app.ui().exec(
        "const b = document.getElementById('update-banner');
         if (b) { delete b.dataset.version; b.hidden = true; }",
        json!([]),
    );
    app.ui().click("#check-updates");
    app.ui().wait_for(
        what,
        WAIT,
        &format!(
            "const b = document.getElementById('update-banner');
             if (!b || b.hidden) return null;
             return ({done}) ? b.innerText : null;"
        ),
    );
}

fn version_shown(app: &RunningApp) -> String {
    app.ui()
        .wait_for(
            "the home screen with the version",
            WAIT,
            "const v = document.getElementById('app-version');
             const t = v && v.textContent;
             return t && /\\d/.test(t) && document.getElementById('check-updates') ? t : null;",
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Takes X screenshots into `path` until the app's content shows (a freshly
/// mapped window paints only its background first); whether it got there.
fn screenshot_painted(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        confer_app_driver::screen::screenshot(path);
        // A bare window has a handful of colours; the home screen (text, the
        // test-pattern preview) has hundreds.
        let colours = Command::new("convert")
            .arg(path)
            .args(["-format", "%k", "info:"])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if colours > 200 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn install_update_and_uninstall_the_deb() {
    let (Some(old_deb), Some(new_deb)) = (
        env_path("CONFER_DIST_OLD_DEB"),
        env_path("CONFER_DIST_NEW_DEB"),
    ) else {
        eprintln!("skipped: CONFER_DIST_OLD_DEB/CONFER_DIST_NEW_DEB unset (run `make test-dist`)");
        return;
    };
    if let Some(reason) = app::skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let package = deb_field(&old_deb, "Package");
    let old = deb_field(&old_deb, "Version");
    let new = deb_field(&new_deb, "Version");
    // Wayland screen sharing links libpipewire (media-core's `wayland`).
    let depends = deb_field(&old_deb, "Depends");
    assert!(depends.contains("libpipewire-0.3-0"), "Depends: {depends}");
    let sig_path = PathBuf::from(format!("{}.sig", new_deb.display()));
    let sig = std::fs::read_to_string(&sig_path)
        .unwrap_or_else(|e| panic!("{}: {e}", sig_path.display()));
    let artifacts = app::artifacts_dir();
    let work = std::env::temp_dir().join(format!("confer-dist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");

    // Install N.
    run(Command::new("dpkg").arg("-i").arg(&old_deb));
    assert_eq!(installed_version(&package).as_deref(), Some(old.as_str()));
    assert!(Path::new(INSTALLED).exists(), "{INSTALLED} not installed");

    let feed = Feed::start(&work);
    let settings = json!({"user_id": "dist-test", "name": "Dist"});
    let feed_url = feed.latest_url();
    let env = [("CONFER_UPDATE_FEED", feed_url.as_str())];
    let running =
        RunningApp::start_binary(Path::new(INSTALLED), "dist-old", settings.clone(), &env);

    // The home screen of the installed N.
    assert_eq!(version_shown(&running), format!("Confer {old}"));
    assert!(
        screenshot_painted(&artifacts.join("dist-installed-home.png"), WAIT),
        "the installed app's window never painted"
    );
    let old_pids = installed_pids();
    assert_eq!(old_pids.len(), 1, "one installed app running: {old_pids:?}");

    // 1. Not newer: nothing to install.
    feed.publish(&old, &old_deb, &sig, "same.deb");
    check(&running, "\"up to date\"", "/up to date/.test(b.innerText)");

    // 2. No feed file: the check fails with a code.
    std::fs::remove_file(feed.dir.join("latest.json")).expect("rm latest.json");
    check(
        &running,
        "the unreachable-feed error",
        "b.dataset.errorCode === '1000101'",
    );

    // 3. Tampered N+1: refused, N keeps running.
    let mut bytes = std::fs::read(&new_deb).expect("read new deb");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let tampered = work.join("tampered.deb");
    std::fs::write(&tampered, &bytes).expect("write tampered deb");
    feed.publish(&new, &tampered, &sig, "tampered.deb");
    check(
        &running,
        "the update offer",
        &format!("b.dataset.version === '{new}'"),
    );
    click_update(&running);
    let refused = running.ui().wait_for(
        "the tampered update to be refused",
        WAIT,
        "const b = document.getElementById('update-banner');
         return b && b.dataset.errorCode === '1000102' ? b.innerText : null;",
    );
    let refused = refused.as_str().unwrap_or_default().to_owned();
    assert!(refused.contains("signature"), "{refused}");
    assert!(
        refused.contains(&format!("Confer {old} keeps running")),
        "{refused}"
    );
    confer_app_driver::screen::screenshot(&artifacts.join("dist-tampered-refused.png"));
    assert_eq!(installed_version(&package).as_deref(), Some(old.as_str()));
    assert_eq!(installed_pids(), old_pids, "N still running");
    assert_eq!(version_shown(&running), format!("Confer {old}"));

    // 3b. Truncated N+1 (a download cut short but served whole): refused too.
    let truncated = work.join("truncated.deb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write truncated deb");
    feed.publish(&new, &truncated, &sig, "truncated.deb");
    check(
        &running,
        "the update offer",
        &format!("b.dataset.version === '{new}'"),
    );
    click_update(&running);
    running.ui().wait_for(
        "the truncated update to be refused",
        WAIT,
        "const b = document.getElementById('update-banner');
         return b && b.dataset.errorCode === '1000102' ? b.innerText : null;",
    );
    assert_eq!(installed_version(&package).as_deref(), Some(old.as_str()));
    assert_eq!(installed_pids(), old_pids, "N still running");

    // 4. The real N+1: install and relaunch.
    feed.publish(&new, &new_deb, &sig, &format!("Confer_{new}_amd64.deb"));
    check(
        &running,
        "the update offer",
        &format!("b.dataset.version === '{new}'"),
    );
    let offered = Instant::now();
    click_update(&running);
    let deadline = Instant::now() + Duration::from_secs(120);
    let new_pid = loop {
        // N has exited (its window gone) and N+1 shows its window.
        // (A zombie has no exe link either.)
        let old_gone = std::fs::read_link(format!("/proc/{}/exe", old_pids[0])).is_err();
        let pids = installed_pids();
        if let Some(&pid) = pids.iter().find(|p| old_gone && !old_pids.contains(p)) {
            let window = Command::new("xdotool")
                .args([
                    "search",
                    "--onlyvisible",
                    "--pid",
                    &pid.to_string(),
                    "--name",
                    "^Confer$",
                ])
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
            if window {
                break pid;
            }
        }
        if Instant::now() > deadline {
            confer_app_driver::screen::screenshot(&artifacts.join("dist-update-timeout.png"));
            panic!("N+1 never started; banner: {}", banner(&running));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        screenshot_painted(&artifacts.join("dist-updated.png"), WAIT),
        "N+1's window never painted"
    );
    let update_ms = offered.elapsed().as_millis();
    assert_eq!(installed_version(&package).as_deref(), Some(new.as_str()));
    eprintln!("N+1 runs as pid {new_pid}");
    // The relaunched app is in the driver's process group: this ends it.
    drop(running);

    // The installed N+1, through the UI.
    let running = RunningApp::start_binary(Path::new(INSTALLED), "dist-new", settings, &env);
    assert_eq!(version_shown(&running), format!("Confer {new}"));
    drop(running);

    // Uninstall.
    run(Command::new("dpkg").arg("--purge").arg(&package));
    assert_eq!(installed_version(&package), None);
    assert!(!Path::new(INSTALLED).exists(), "{INSTALLED} left behind");

    let mb = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    println!("deb_bundle_size_mb_debug {:.2}", mb(&new_deb));
    println!("update_download_size_mb_debug {:.2}", mb(&new_deb));
    println!("update_available_to_new_version_running_ms {update_ms}");
    drop(feed);
    let _ = std::fs::remove_dir_all(&work);
}
