//! The `confer` binary as a child process: `confer call` against a
//! [`TestServer`], stopped the way a user stops it (SIGTERM).

use super::TestServer;
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
    let mut command = Command::new(env!("CARGO_BIN_EXE_confer"));
    command
        .args(["call", "--server", &server.url, "--room", room])
        .args(["--user", user, "--app-id", &server.app.app_id.to_string()])
        .args(["--media-ip", "127.0.0.1"])
        .env("CONFER_APP_SIGN", &server.app.app_sign)
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    command
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
