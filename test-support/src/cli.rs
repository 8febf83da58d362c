//! The `confer` binary as a child process: `confer call` against a
//! [`TestServer`], stopped the way a user stops it (SIGTERM).

use crate::TestServer;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A child's stdout, line by line.
pub type StdoutLines = Lines<BufReader<ChildStdout>>;

/// `confer call` joining `room` on `server` as `user`, with the app's id and
/// sign, media on loopback, stdout piped (its JSON lines) and killed on drop.
/// The caller adds what the call does (`--play`, `--publish`...), where its
/// stderr goes, and spawns it.
pub fn confer_call(server: &TestServer, room: &str, user: &str) -> Command {
    let mut command = Command::new(confer_bin());
    command
        .args(["call", "--server", &server.url, "--room", room])
        .args(["--user", user, "--app-id", &server.app.app_id.to_string()])
        .args(["--media-ip", "127.0.0.1"])
        .env("CONFER_APP_SIGN", &server.app.app_sign)
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `confer call` inside `client`'s namespace, joining `room` as `user` at
/// `url` (a wss URL certified by the test CA in `ca_file`) with `app`'s id
/// and sign, media on the client's address, the synthetic video source and
/// no audio; stdout piped (its JSON lines), stderr dropped, killed on drop.
/// The caller adds what the call does and spawns it.
pub fn confer_call_in(
    client: &crate::netns::Client,
    url: &str,
    app: &server::AppConfig,
    ca_file: &std::path::Path,
    room: &str,
    user: &str,
) -> Command {
    let mut command = crate::netns::exec(&client.ns, confer_bin());
    command
        .args(["call", "--server", url, "--room", room, "--user", user])
        .args(["--app-id", &app.app_id.to_string()])
        .arg("--ca-file")
        .arg(ca_file)
        .args(["--media-ip", &client.ip])
        .args(["--source", "test", "--audio", "none"])
        .env("CONFER_APP_SIGN", &app.app_sign)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The `confer` binary of this build: `CARGO_BIN_EXE_confer` when Cargo
/// set it, else the one next to the running test or bench (Cargo puts
/// those in `target/<profile>/deps/` and builds the package's binaries
/// into `target/<profile>/` before running them).
pub fn confer_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_confer") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the running test's path");
    let mut dir = exe.parent().expect("the test is in a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps/ is in the profile's directory");
    }
    dir.join(format!("confer{}", std::env::consts::EXE_SUFFIX))
}

/// The stdout [`confer_call`] piped, line by line.
pub fn stdout_lines(child: &mut Child) -> StdoutLines {
    BufReader::new(child.stdout.take().expect("piped stdout")).lines()
}

/// Keeps reading `lines` in the background, so the child never blocks on a
/// full pipe.
pub fn drain(mut lines: StdoutLines) {
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
}

/// Sends `child` SIGTERM and waits (at most 15 s) for it to exit; panics if
/// it does not, and returns its exit status.
pub async fn terminate(child: &mut Child) -> ExitStatus {
    let pid = child.id().expect("child running");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM {pid}: {kill:?}");
    tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait")
}
