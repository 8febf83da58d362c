//! SDK logging: [`set_log_config`] installs a global `tracing` subscriber that
//! writes to `confer.log` in a directory, rotating it to `confer.log.1` ..
//! `confer.log.3` when it reaches the size limit.

use crate::error::EngineError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The current log file's name.
pub const LOG_FILE_NAME: &str = "confer.log";
/// How many rotated files (`confer.log.1` = newest) are kept.
pub const ROTATED_FILES: u32 = 3;

/// Where and how much to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The directory for log files (created if missing).
    pub dir: PathBuf,
    /// Size in bytes at which `confer.log` is rotated. Must be > 0.
    pub max_size: u64,
}

/// The WebRTC libraries' log targets, held at `error` by default, so a
/// warning a user sees always means something. `RUST_LOG` (e.g.
/// `rtc_ice=debug`) opens them.
///
/// The SDK no longer causes the warnings a normal call used to print: media
/// waits for the connection (no "local_srtp_context is not set yet") and an
/// answer waits for the SFU's first candidate (no "pingAllCandidates called
/// with no candidate pairs"); `tests/call_cli.rs` runs a call with these
/// targets at WARN to prove it. The filter stays for what cannot be
/// prevented from our side: rtc-dtls warns "conn.remote_addr is empty" on
/// every DTLS client (rtc builds its DTLS config without the peer's address
/// and offers no server-name setting) — in our calls that is a publisher,
/// and the SFU in `confer serve` on its player legs — and a peer's
/// connectivity check can arrive before its answer is applied here ("password
/// is empty"), which only the network's timing decides.
pub const QUIET_LIBRARIES: &str = "webrtc=error,rtc=error,rtc_ice=error,rtc_dtls=error,\
rtc_srtp=error,rtc_sctp=error,rtc_interceptor=error,rtc_rtp=error,rtc_rtcp=error,\
rtc_turn=error,rtc_stun=error,rtc_mdns=error,rtc_datachannel=error,rtc_media=error,\
rtc_sdp=error,rtc_shared=error";

/// `RUST_LOG` if set, else `default` with [`QUIET_LIBRARIES`] appended.
pub fn log_filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},{QUIET_LIBRARIES}")))
}

/// Sends the SDK's logs (and everything else logged through `tracing` in this
/// process) to size-rotated files in `config.dir`. The level comes from
/// `RUST_LOG` (default `info`, the WebRTC libraries at `error`).
///
/// The first call installs the global subscriber; it fails with
/// [`EngineError::InvalidLogConfig`] if the process already has one. Later
/// calls reconfigure: logging moves to the new directory and size limit.
pub fn set_log_config(config: LogConfig) -> Result<(), EngineError> {
    static WRITER: OnceLock<Arc<Mutex<RotatingFile>>> = OnceLock::new();
    let file = RotatingFile::open(&config)?;
    if let Some(current) = WRITER.get() {
        *current.lock().unwrap_or_else(PoisonError::into_inner) = file;
        return Ok(());
    }
    let shared = Arc::new(Mutex::new(file));
    let filter = log_filter("info");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(LogWriter(shared.clone()))
        .try_init()
        .map_err(EngineError::LogSubscriber)?;
    // Only one caller can have installed the subscriber, so this cannot fail;
    // if it somehow did, the installed writer keeps working.
    let _ = WRITER.set(shared);
    Ok(())
}

/// A file that rotates itself when it grows past `max_size`.
#[derive(Debug)]
pub(crate) struct RotatingFile {
    dir: PathBuf,
    max_size: u64,
    file: Option<File>,
    written: u64,
}

impl RotatingFile {
    pub(crate) fn open(config: &LogConfig) -> Result<Self, EngineError> {
        if config.max_size == 0 {
            return Err(EngineError::InvalidLogConfig("max_size must be > 0".into()));
        }
        fs::create_dir_all(&config.dir).map_err(|source| EngineError::LogDir {
            dir: config.dir.clone(),
            source,
        })?;
        let path = config.dir.join(LOG_FILE_NAME);
        let file = open_append(&path).map_err(|source| EngineError::LogFile { path, source })?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            dir: config.dir.clone(),
            max_size: config.max_size,
            file: Some(file),
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let name = |i: u32| self.dir.join(format!("{LOG_FILE_NAME}.{i}"));
        let _ = fs::remove_file(name(ROTATED_FILES));
        for i in (1..ROTATED_FILES).rev() {
            if name(i).exists() {
                fs::rename(name(i), name(i + 1))?;
            }
        }
        let current = self.dir.join(LOG_FILE_NAME);
        if current.exists() {
            fs::rename(&current, name(1))?;
        }
        self.file = Some(open_append(&current)?);
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_size {
            self.rotate()?;
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => self
                .file
                .insert(open_append(&self.dir.join(LOG_FILE_NAME))?),
        };
        let n = file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The `MakeWriter` handed to the subscriber; each event locks the file once.
#[derive(Debug, Clone)]
struct LogWriter(Arc<Mutex<RotatingFile>>);

struct LogGuard<'a>(std::sync::MutexGuard<'a, RotatingFile>);

impl Write for LogGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogGuard<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogGuard(self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("media-core-log-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rotates_and_keeps_three() {
        let dir = temp_dir("rotate");
        let mut f = RotatingFile::open(&LogConfig {
            dir: dir.clone(),
            max_size: 10,
        })
        .unwrap();
        for i in 0..6 {
            f.write_all(format!("line {i}...\n").as_bytes()).unwrap();
        }
        let read = |n: &str| fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("confer.log"), "line 5...\n");
        assert_eq!(read("confer.log.1"), "line 4...\n");
        assert_eq!(read("confer.log.3"), "line 2...\n");
        assert!(!dir.join("confer.log.4").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_zero_size() {
        let err = RotatingFile::open(&LogConfig {
            dir: temp_dir("zero"),
            max_size: 0,
        })
        .unwrap_err();
        assert_eq!(err.code(), protocol::ErrorCode::InvalidLogConfig);
    }
}
