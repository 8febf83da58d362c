//! `confer call`: a headless participant. Logs in, optionally publishes a
//! stream (test pattern + tone by default, or a camera / microphone / .y4m
//! file) and plays others' streams, prints every SDK event as one JSON line
//! on stdout until Ctrl-C (or SIGTERM), then logs out and destroys the engine
//! so the others see it leave at once. What the played streams deliver can be
//! saved (`--save-received`, see [`crate::received`]) and probed (`--probe`:
//! frame numbers, latency, tone frequency and level as more JSON lines on
//! stdout, see [`crate::probe`]); `--sound-level` adds the sound level
//! monitor's events every 200 ms; `--share-screen <ID>` shares the X
//! screen of `$DISPLAY` on the aux channel as a second stream. If the room
//! ends in Disconnected with an error (kicked out, wrong AppSign, retry
//! window exhausted) it exits with status 2.

use crate::audio_args::AudioProcessingArgs;
use crate::connect_args::ConnectArgs;
use crate::logging::{self, LogFormat};
use anyhow::{anyhow, Context};
use clap::Args;
use clap::ValueEnum;
use media_core::capture::screen;
use media_core::capture::source::{AudioSourceKind, VideoSourceKind};
use media_core::codec::content::ContentHint;
use media_core::codec::video_config::VideoPreset;
use media_core::render::{Canvas, FrameSink};
use media_core::transport::TransportConfig;
use media_core::{
    AudioSink, Engine, Event, LogConfig, PlayedAudio, PublishChannel, ReconnectPolicy, RoomConfig,
    RoomState, ScreenCaptureConfig, ScreenShare, ScreenShareState, UpdateType, User,
};
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Arguments of `confer call`.
#[derive(Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Room to join (created on demand).
    #[arg(long)]
    room: String,
    /// Your user ID (unique in the app; a second login elsewhere kicks this one).
    #[arg(long)]
    user: String,
    /// Display name (default: the user ID).
    #[arg(long)]
    name: Option<String>,
    /// Receive user join/leave and online-count events.
    #[arg(long)]
    notify_users: bool,
    /// Publish a stream with this ID once logged in.
    #[arg(long)]
    publish: Option<String>,
    /// Video to publish: `test` (moving pattern with frame-number barcode),
    /// `camera`, `camera:<id>`, or a path to a .y4m file.
    #[arg(long, default_value = "test")]
    source: String,
    /// Audio to publish: `tone` (a sine at --tone-hz), `mic`, `mic:<id>`, or `none`.
    #[arg(long, default_value = "tone")]
    audio: String,
    /// Tone frequency for `--audio tone`.
    #[arg(long, default_value_t = 440.0)]
    tone_hz: f64,
    #[command(flatten)]
    processing: AudioProcessingArgs,
    /// Video preset for publishing.
    #[arg(long, value_enum, default_value_t = Preset::P360)]
    preset: Preset,
    /// Share screen 0 of `$DISPLAY` on the aux channel as this stream ID once
    /// logged in (`<user>-screen` is what players show as a shared screen).
    #[arg(long)]
    share_screen: Option<String>,
    /// What the shared screen shows: its frame rate, bitrate and encoder mode.
    #[arg(long, value_enum, default_value_t = ShareHint::Detail)]
    share_hint: ShareHint,
    /// Play streams: `auto` (every stream in the room as it appears) or stream IDs.
    #[arg(long)]
    play: Vec<String>,
    /// Save each played stream as `<DIR>/<stream>.y4m` and `<stream>.wav`.
    #[arg(long)]
    save_received: Option<PathBuf>,
    /// Print probe lines for played streams beside the events: per rendered
    /// frame its barcode's frame number, capture time and latency; per
    /// second of audio its dominant frequency and RMS level.
    #[arg(long)]
    probe: bool,
    /// Start the sound level monitor (every 200 ms): `CapturedSoundLevelUpdate`
    /// and `RemoteSoundLevelUpdate` events among the others.
    #[arg(long)]
    sound_level: bool,
    /// IP for media (UDP) sockets; 127.0.0.1 keeps media on loopback.
    #[arg(long, default_value = "0.0.0.0")]
    media_ip: IpAddr,
    /// How long to keep retrying after the network drops, in seconds.
    #[arg(long, default_value_t = 1200)]
    retry_window: u64,
    /// Write SDK logs (rotating files) into this directory.
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

/// Video presets selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Preset {
    #[value(name = "180p")]
    P180,
    #[value(name = "270p")]
    P270,
    #[value(name = "360p")]
    P360,
    #[value(name = "540p")]
    P540,
    #[value(name = "720p")]
    P720,
    #[value(name = "1080p")]
    P1080,
}

impl Preset {
    fn preset(self) -> VideoPreset {
        match self {
            Preset::P180 => VideoPreset::P180,
            Preset::P270 => VideoPreset::P270,
            Preset::P360 => VideoPreset::P360,
            Preset::P540 => VideoPreset::P540,
            Preset::P720 => VideoPreset::P720,
            Preset::P1080 => VideoPreset::P1080,
        }
    }
}

/// Content hints selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ShareHint {
    Text,
    Detail,
    Motion,
}

impl ShareHint {
    fn hint(self) -> ContentHint {
        match self {
            ShareHint::Text => ContentHint::Text,
            ShareHint::Detail => ContentHint::Detail,
            ShareHint::Motion => ContentHint::Motion,
        }
    }
}

/// The sound level monitor's interval with `--sound-level`.
const SOUND_LEVEL_INTERVAL: Duration = Duration::from_millis(200);

/// Exit status when the room ended with an error.
const EXIT_ROOM_ERROR: i32 = 2;

pub(crate) async fn run(args: CallArgs) -> anyhow::Result<()> {
    match &args.log_dir {
        Some(dir) => media_core::set_log_config(LogConfig {
            dir: dir.clone(),
            max_size: 5 * 1024 * 1024,
        })
        .map_err(|e| anyhow!("log config: {e}"))?,
        None => logging::init(LogFormat::Text, "warn"),
    }
    let profile = args.connect.profile(
        ReconnectPolicy {
            retry_window: Duration::from_secs(args.retry_window),
            ..ReconnectPolicy::default()
        },
        TransportConfig {
            bind_ip: args.media_ip,
            ..TransportConfig::default()
        },
    )?;
    let (engine, mut events) = Engine::create(profile).map_err(|e| anyhow!("{e}"))?;
    configure_media(&engine, &args)?;
    if args.sound_level {
        engine.start_sound_level_monitor(SOUND_LEVEL_INTERVAL);
    }
    let players = Players::new(&engine, &args)?;
    let user = User::new(
        args.user.clone(),
        args.name.clone().unwrap_or_else(|| args.user.clone()),
    );
    let config = RoomConfig {
        is_user_status_notify: args.notify_users,
        token: args.connect.token.clone(),
        ..RoomConfig::default()
    };
    engine
        .login_room(&args.room, user, config)
        .map_err(|e| anyhow!("login_room: {e}"))?;
    if let Some(stream_id) = &args.publish {
        engine
            .start_publishing_stream(stream_id, PublishChannel::Main)
            .map_err(|e| anyhow!("start_publishing_stream: {e}"))?;
    }
    let share = match &args.share_screen {
        Some(stream_id) => Some(share_screen(&engine, stream_id, args.share_hint)?),
        None => None,
    };
    let mut players = players;
    players.play_named(&args.play);

    let stop = crate::signal::stop_requested();
    tokio::pin!(stop);
    let mut room_error = None;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                print_event(&event)?;
                players.on_event(&event);
                if let Event::RoomStateUpdate { state: RoomState::Disconnected, error_code, .. } = event {
                    if error_code != 0 {
                        room_error = Some(error_code);
                        break;
                    }
                }
            }
            _ = &mut stop => break,
        }
    }

    if let Some(share) = share {
        share.stop();
        // Its Stopped event comes through the engine's event pipeline:
        // print it before the engine goes (destroy drops what is queued).
        let stopped = |e: &Event| {
            matches!(
                e,
                Event::ScreenCaptureStateUpdate {
                    state: ScreenShareState::Stopped,
                    ..
                }
            )
        };
        let wait = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    print_event(&event)?;
                    if stopped(&event) {
                        break;
                    }
                }
                _ = &mut wait => break,
            }
        }
    }
    if room_error.is_none() {
        // Not logged in any more is fine here: we are leaving anyway.
        let _ = engine.logout_room();
    }
    engine.destroy().await;
    while let Ok(event) = events.try_recv() {
        print_event(&event)?;
    }
    if let Some(code) = room_error {
        eprintln!("confer call: room ended with error code {code}");
        std::process::exit(EXIT_ROOM_ERROR);
    }
    Ok(())
}

/// Applies `--source`, `--audio` (and its processing flags) and `--preset`
/// to the main channel.
fn configure_media(engine: &Engine, args: &CallArgs) -> anyhow::Result<()> {
    let video = match args.source.as_str() {
        "test" => VideoSourceKind::TestPattern,
        "camera" => VideoSourceKind::Camera { id: None },
        s => match s.strip_prefix("camera:") {
            Some(id) => VideoSourceKind::Camera {
                id: Some(id.to_owned()),
            },
            None => VideoSourceKind::Y4m {
                path: PathBuf::from(s),
            },
        },
    };
    let audio = match args.audio.as_str() {
        "tone" => Some(AudioSourceKind::Tone {
            freq_hz: args.tone_hz,
        }),
        "mic" => Some(AudioSourceKind::Microphone { id: None }),
        "none" => None,
        s => match s.strip_prefix("mic:") {
            Some(id) => Some(AudioSourceKind::Microphone {
                id: Some(id.to_owned()),
            }),
            None => return Err(anyhow!("--audio must be tone, mic, mic:<id> or none")),
        },
    };
    engine.set_video_source(video, PublishChannel::Main);
    args.processing.apply(engine);
    match audio {
        Some(a) => engine.set_audio_source(a, PublishChannel::Main),
        None => engine.mute_microphone(true),
    }
    engine
        .set_video_config(args.preset.preset().config(), PublishChannel::Main)
        .map_err(|e| anyhow!("video config: {e}"))
}

/// Starts `--share-screen`: screen 0 of `$DISPLAY` (on a Wayland session,
/// what the user picks in the portal's dialog) as the aux channel's video,
/// published as `stream_id`.
fn share_screen(engine: &Engine, stream_id: &str, hint: ShareHint) -> anyhow::Result<ScreenShare> {
    let share = engine
        .start_screen_capture(ScreenCaptureConfig {
            target: screen::session::default_target(None),
            display: None,
            hint: hint.hint(),
            restore_token: None,
        })
        .map_err(|e| anyhow!("--share-screen: {e}"))?;
    engine
        .start_publishing_stream(stream_id, PublishChannel::Aux)
        .map_err(|e| anyhow!("start_publishing_stream {stream_id} (aux): {e}"))?;
    Ok(share)
}

/// Which streams `--play` asks for, and what consumes them: the savers for
/// `--save-received` and the probes for `--probe`.
struct Players {
    engine: Engine,
    auto: bool,
    playing: HashSet<String>,
    save_dir: Option<PathBuf>,
    probe: bool,
}

impl Players {
    fn new(engine: &Engine, args: &CallArgs) -> anyhow::Result<Players> {
        let mut audio_consumers = Vec::new();
        if let Some(dir) = &args.save_received {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(crate::received::save_audio(dir.clone(), rx));
            audio_consumers.push(tx);
        }
        if args.probe {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(crate::probe::probe_audio(rx));
            audio_consumers.push(tx);
        }
        if !audio_consumers.is_empty() {
            let (sink, audio) = AudioSink::new();
            engine.set_audio_sink(Some(sink));
            tokio::spawn(fan_out_audio(audio, audio_consumers));
        }
        Ok(Players {
            engine: engine.clone(),
            auto: args.play.iter().any(|p| p == "auto"),
            playing: HashSet::new(),
            save_dir: args.save_received.clone(),
            probe: args.probe,
        })
    }

    fn play_named(&mut self, names: &[String]) {
        for name in names.iter().filter(|n| *n != "auto") {
            self.play(name);
        }
    }

    fn play(&mut self, stream_id: &str) {
        if !self.playing.insert(stream_id.to_owned()) {
            return;
        }
        // One sink per stream; the saver and the probe each subscribe to it.
        let canvas = (self.save_dir.is_some() || self.probe).then(|| {
            let sink = FrameSink::new();
            if let Some(dir) = &self.save_dir {
                crate::received::save_video(dir, stream_id, &sink);
            }
            if self.probe {
                crate::probe::probe_video(stream_id, &sink);
            }
            Canvas::sink(sink)
        });
        if let Err(e) = self.engine.start_playing_stream(stream_id, canvas) {
            eprintln!("confer call: start_playing_stream {stream_id}: {e}");
            self.playing.remove(stream_id);
        }
    }

    fn on_event(&mut self, event: &Event) {
        if let Event::RoomStreamUpdate {
            update_type: UpdateType::Add,
            streams,
            ..
        } = event
        {
            if self.auto {
                for s in streams {
                    self.play(&s.stream_id);
                }
            }
        }
    }
}

/// Hands every played stream's audio to each consumer (the engine takes a
/// single [`AudioSink`]) until the engine or every consumer has gone.
async fn fan_out_audio(
    mut audio: mpsc::UnboundedReceiver<PlayedAudio>,
    mut consumers: Vec<mpsc::UnboundedSender<PlayedAudio>>,
) {
    while let Some(played) = audio.recv().await {
        consumers.retain(|tx| tx.send(played.clone()).is_ok());
        if consumers.is_empty() {
            return;
        }
    }
}

fn print_event(event: &Event) -> anyhow::Result<()> {
    crate::jsonl::print(event)
}
