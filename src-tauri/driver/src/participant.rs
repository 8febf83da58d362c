//! A headless `confer call` participant whose events (JSON lines on its
//! stdout) the test waits on.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A running `confer call`.
pub struct Participant {
    child: Child,
    events: Receiver<Value>,
    /// Every event seen so far, in order.
    pub seen: Vec<Value>,
}

impl Participant {
    /// Starts `confer` with `args` (after `call`).
    pub fn spawn(confer: &Path, args: &[&str]) -> Participant {
        let mut child = Command::new(confer)
            .arg("call")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", confer.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Participant {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for an event matching `pred` (also among those already seen
    /// after index `since`), panicking after `timeout` with `what`.
    pub fn wait_for(
        &mut self,
        what: &str,
        since: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().skip(since).find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out waiting for {what}; the participant saw:\n{}",
                    self.summary()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the participant exited before {what}; it saw:\n{}",
                    self.summary()
                ),
            }
        }
    }

    fn summary(&self) -> String {
        self.seen
            .iter()
            .filter(|v| !v["event"].as_str().unwrap_or("").ends_with("QualityUpdate"))
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
