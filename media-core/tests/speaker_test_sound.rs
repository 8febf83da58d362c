//! The speaker test chime on a real sound server: a private PulseAudio with
//! a null sink, whose monitor `parec` records while
//! `Engine::play_test_sound` plays on that sink. The recording must hold
//! 660 Hz, then 880 Hz, about 0.8 s in all, at about -12 dBFS.
//!
//! Skips (with the reason printed) when `pulseaudio` or `parec` is missing
//! or the server cannot start; `scripts/deps.sh` installs both.

use media_core::capture::tone::dominant_frequency;
use media_core::{Engine, EngineProfile};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SINK: &str = "confer_test";
const RATE: usize = 48_000;

/// A private PulseAudio server in its own directory; killed and removed on drop.
struct PulseServer {
    dir: PathBuf,
    child: Child,
}

impl PulseServer {
    /// The server, or why it could not start.
    fn start() -> Result<PulseServer, String> {
        for tool in ["pulseaudio", "parec", "pactl"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                return Err(format!("{tool} is not installed (scripts/deps.sh)"));
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("confer-pulse-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("run")).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("pulseaudio.log")).map_err(|e| e.to_string())?;
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "-L",
                &format!("module-null-sink sink_name={SINK} rate={RATE} channels=2"),
                "-L",
                &format!(
                    "module-native-protocol-unix socket={} auth-anonymous=1",
                    dir.join("native").display()
                ),
            ])
            .env("HOME", &dir)
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env_remove("PULSE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run pulseaudio: {e}"))?;
        let server = PulseServer { dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ready = Command::new("pactl")
                .args(["--server", &server.address(), "info"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(server.dir.join("pulseaudio.log")).unwrap_or_default();
        Err(format!("pulseaudio did not start in 10 s:\n{log}"))
    }

    fn address(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("native")
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `parec` on the sink's monitor: 48 kHz mono s16le, read on a thread as
/// it arrives.
struct Recorder {
    child: Child,
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Recorder {
    fn start(server: &str) -> Recorder {
        let mut child = Command::new("parec")
            .args([
                "--server",
                server,
                "--device",
                &format!("{SINK}.monitor"),
                "--rate",
                &RATE.to_string(),
                "--channels=1",
                "--format=s16le",
                "--raw",
                "--latency-msec=20",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("parec runs");
        let mut out = child.stdout.take().expect("piped stdout");
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                sink.lock().expect("recording").extend_from_slice(&buf[..n]);
            }
        });
        Recorder {
            child,
            bytes,
            reader,
        }
    }

    /// What was recorded so far.
    fn samples(&self) -> Vec<i16> {
        recorded(&self.bytes)
    }

    /// Waits until the recording holds the chime and `quiet` of silence
    /// after its last loud sample (the sound server's buffers have played
    /// out), or until `timeout`; true if it does.
    async fn wait_for_chime_end(&self, quiet: Duration, timeout: Duration) -> bool {
        let quiet = quiet.as_millis() as usize * RATE / 1000;
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.samples();
            if samples
                .iter()
                .rposition(loud)
                .is_some_and(|end| samples.len() - end > quiet)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(mut self) -> Vec<i16> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What parec wrote before it died is read to the end first.
        self.reader.join().expect("reader thread");
        recorded(&self.bytes)
    }
}

/// What `bytes` (s16le) holds, as samples.
fn recorded(bytes: &Mutex<Vec<u8>>) -> Vec<i16> {
    bytes
        .lock()
        .expect("recording")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Above about -30 dBFS: the chime, not the silence around it.
fn loud(sample: &i16) -> bool {
    sample.unsigned_abs() > 1_000
}

fn ms(samples: usize) -> usize {
    samples * 1000 / RATE
}

fn peak(samples: &[i16]) -> u16 {
    samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_chime_plays_660_then_880_hz_on_the_chosen_output() {
    let server = match PulseServer::start() {
        Ok(server) => server,
        Err(reason) => {
            let why = format!("no private PulseAudio server: {reason}");
            test_support::skip(
                "the_test_chime_plays_660_then_880_hz_on_the_chosen_output",
                &why,
            );
            return;
        }
    };
    wait_for(&server.socket());
    // cpal's PulseAudio host looks for PULSE_SERVER each time a host is made.
    std::env::set_var("PULSE_SERVER", server.address());

    let speakers = media_core::capture::speaker::list_speakers();
    let sink = speakers
        .iter()
        .find(|d| d.id.contains(SINK) && !d.id.contains("monitor"))
        .unwrap_or_else(|| panic!("the null sink is listed as a speaker: {speakers:?}"));

    // An engine that never logs in: the test sound works before login.
    let (engine, _events) = Engine::create(EngineProfile {
        app_id: 1,
        app_sign: String::new(),
        scenario: Default::default(),
        server: "ws://127.0.0.1:9/ws".into(),
        reconnect: Default::default(),
        transport: Default::default(),
        tls: Default::default(),
    })
    .expect("engine");

    // An unknown output fails at once, with the device code.
    let started = Instant::now();
    let err = engine
        .play_test_sound(Some("pulseaudio:no_such_sink"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), media_core::ErrorCode::DeviceNotFound, "{err}");
    assert!(started.elapsed() < Duration::from_millis(500));

    let recorder = Recorder::start(&server.address());
    // Let parec connect and record some silence first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    engine
        .play_test_sound(Some(&sink.id))
        .await
        .expect("the chime plays");
    let took = started.elapsed();
    // The monitor delivers what the sink played some time later (later
    // still on a loaded machine): record until the chime is followed by
    // 300 ms of silence.
    let ended = recorder
        .wait_for_chime_end(Duration::from_millis(300), Duration::from_secs(10))
        .await;
    let samples = recorder.stop();
    engine.destroy().await;
    drop(server);

    println!(
        "play_test_sound took {took:?}; recorded {} ms, peak {}",
        ms(samples.len()),
        peak(&samples)
    );
    assert!(
        ended,
        "the recording ends with the chime and 300 ms of silence after it"
    );
    assert!(
        // The chime is 0.8 s; a fresh null sink starts pulling about 1.4 s
        // after the stream is opened (pacat waits as long). The upper bound
        // only catches a hang.
        took >= Duration::from_millis(800) && took < Duration::from_secs(15),
        "returns once the chime has played: {took:?}"
    );
    // The chime: from the first to the last sample above about -30 dBFS.
    let start = samples
        .iter()
        .position(loud)
        .expect("the chime was recorded");
    let end = samples
        .iter()
        .rposition(loud)
        .expect("the chime was recorded");
    let length = ms(end - start);
    println!("chime from {} ms, {length} ms long", ms(start));
    assert!(
        (740..=880).contains(&length),
        "the whole chime (800 ms) plays: {length} ms"
    );
    let window = |from_ms: usize, to_ms: usize| {
        &samples[start + from_ms * RATE / 1000..start + to_ms * RATE / 1000]
    };
    for (from, to, want) in [(50, 350, 660.0), (450, 750, 880.0)] {
        let part = window(from, to);
        let freq = dominant_frequency(part, 1, RATE as u32).expect("a tone");
        println!("{from}..{to} ms: {freq:.1} Hz, peak {}", peak(part));
        assert!(
            (freq - want).abs() < want * 0.01,
            "{from}..{to} ms after the start: {want} Hz expected, measured {freq:.1} Hz"
        );
        // -12 dBFS is a peak of 8231; allow the server's volume some slack.
        assert!(
            (6_500..=10_500).contains(&peak(part)),
            "level near -12 dBFS: peak {}",
            peak(part)
        );
    }
}
