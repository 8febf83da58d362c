//! What the bench measures and prints: per-player counts, percentiles,
//! and a local server process's CPU and RSS from `/proc`.

use std::time::Duration;

/// What one player received.
#[derive(Debug, Default)]
pub(crate) struct PlayerStats {
    /// RTP payload bytes.
    pub(crate) bytes: u64,
    /// Frames (access units with a picture), and when the first and last
    /// arrived (µs on the bench's clock).
    pub(crate) frames: u64,
    first_us: Option<u64>,
    last_us: u64,
    /// Publisher-to-player latency of each recognised frame, µs.
    pub(crate) latencies_us: Vec<u64>,
}

impl PlayerStats {
    /// A frame arrived at `now_us`, recognised with `latency_us`, or not.
    pub(crate) fn frame(&mut self, now_us: u64, latency_us: Option<u64>) {
        self.frames += 1;
        self.first_us.get_or_insert(now_us);
        self.last_us = now_us;
        if let Some(latency) = latency_us {
            self.latencies_us.push(latency);
        }
    }

    /// Frames per second over `window`.
    pub(crate) fn fps(&self, window: Duration) -> f64 {
        self.frames as f64 / window.as_secs_f64().max(1e-3)
    }

    /// Kilobits per second over `window`.
    pub(crate) fn kbps(&self, window: Duration) -> f64 {
        self.bytes as f64 * 8.0 / 1000.0 / window.as_secs_f64().max(1e-3)
    }
}

/// The `p`-th percentile (0..=100) of `values` (sorted here), nearest rank.
pub(crate) fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// A process's CPU time (user + system, clock ticks) and resident set (kB).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcSample {
    ticks: u64,
    rss_kb: u64,
}

/// Reads `/proc/<pid>`; `None` if the process is not there (not local).
pub(crate) fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(ProcSample {
        ticks: utime + stime,
        rss_kb,
    })
}

/// CPU percent (of one core) between two samples `window` apart, and the
/// later RSS in MB.
pub(crate) fn cpu_and_rss(before: ProcSample, after: ProcSample, window: Duration) -> (f64, f64) {
    // Linux's USER_HZ is 100 on every architecture the bench runs on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let cpu = (after.ticks.saturating_sub(before.ticks)) as f64
        / TICKS_PER_SECOND
        / window.as_secs_f64().max(1e-3)
        * 100.0;
    (cpu, after.rss_kb as f64 / 1024.0)
}

/// The pid of the one local `confer serve` process listening on `port`,
/// found by its command line (`None`: none or several).
pub(crate) fn find_server_pid(port: u16) -> Option<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_serve = args.first().is_some_and(|a| a.ends_with("confer"))
            && args.iter().any(|a| a == "serve");
        let names_port = args.iter().any(|a| a.ends_with(&format!(":{port}")));
        if is_serve && (names_port || !args.iter().any(|a| a == "--bind")) {
            found.push(pid);
        }
    }
    (found.len() == 1).then(|| found[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50));
        assert_eq!(percentile(&mut v, 99.0), Some(99));
        assert_eq!(percentile(&mut v, 100.0), Some(100));
        assert_eq!(percentile(&mut [], 99.0), None);
        assert_eq!(percentile(&mut [7], 0.0), Some(7));
    }

    #[test]
    fn this_process_has_cpu_and_rss() {
        let sample = proc_sample(std::process::id()).expect("/proc of this process");
        assert!(sample.rss_kb > 0);
        let (cpu, rss) = cpu_and_rss(sample, sample, Duration::from_secs(1));
        assert_eq!(cpu, 0.0);
        assert!(rss > 0.0);
    }
}
