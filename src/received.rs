//! `confer call --save-received DIR`: writes each played stream's decoded
//! video as `<stream>.y4m` and its audio as `<stream>.wav`.

use media_core::render::{FrameSink, RenderedFrame};
use media_core::PlayedAudio;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Frames a saver may queue before it drops (disk slower than video).
const QUEUE: usize = 60;

/// Saves one stream's video frames as they are rendered into `sink`.
pub(crate) fn save_video(dir: &Path, stream_id: &str, sink: &FrameSink) {
    let mut frames = sink.subscribe(QUEUE);
    let path = dir.join(format!("{stream_id}.y4m"));
    tokio::task::spawn_blocking(move || {
        let mut out: Option<BufWriter<File>> = None;
        while let Some(frame) = frames.blocking_recv() {
            if let Err(e) = write_frame(&path, &mut out, &frame) {
                eprintln!("confer call: cannot write {}: {e}", path.display());
                return;
            }
        }
    });
}

fn write_frame(
    path: &Path,
    out: &mut Option<BufWriter<File>>,
    frame: &RenderedFrame,
) -> std::io::Result<()> {
    let w = match out {
        Some(w) => w,
        None => {
            let mut w = BufWriter::new(File::create(path)?);
            writeln!(
                w,
                "YUV4MPEG2 W{} H{} F30:1 Ip A1:1 C420jpeg",
                frame.width, frame.height
            )?;
            out.insert(w)
        }
    };
    w.write_all(b"FRAME\n")?;
    w.write_all(&frame.data)?;
    w.flush()
}

/// Saves every played stream's audio as 48 kHz 16-bit WAV files.
pub(crate) async fn save_audio(dir: PathBuf, mut audio: mpsc::UnboundedReceiver<PlayedAudio>) {
    let mut files: HashMap<String, Wav> = HashMap::new();
    while let Some(played) = audio.recv().await {
        let wav = match files.get_mut(&played.stream_id) {
            Some(w) => w,
            None => {
                let path = dir.join(format!("{}.wav", played.stream_id));
                match Wav::create(&path, played.frame.channels) {
                    Ok(w) => files.entry(played.stream_id.clone()).or_insert(w),
                    Err(e) => {
                        eprintln!("confer call: cannot write {}: {e}", path.display());
                        continue;
                    }
                }
            }
        };
        if let Err(e) = wav.append(&played.frame.samples) {
            eprintln!("confer call: writing audio failed: {e}");
        }
    }
}

/// A WAV file whose header sizes are rewritten after each append, so it is
/// valid whenever the process stops.
struct Wav {
    file: File,
    data_bytes: u32,
}

impl Wav {
    fn create(path: &Path, channels: u16) -> std::io::Result<Wav> {
        let mut file = File::create(path)?;
        let rate = 48_000u32;
        let block = channels * 2;
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&36u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        h.extend_from_slice(&block.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&h)?;
        Ok(Wav {
            file,
            data_bytes: 0,
        })
    }

    fn append(&mut self, samples: &[i16]) -> std::io::Result<()> {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(&bytes)?;
        self.data_bytes = self.data_bytes.saturating_add(bytes.len() as u32);
        self.file.seek(SeekFrom::Start(4))?;
        self.file.write_all(&(36 + self.data_bytes).to_le_bytes())?;
        self.file.seek(SeekFrom::Start(40))?;
        self.file.write_all(&self.data_bytes.to_le_bytes())
    }
}
