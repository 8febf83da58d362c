//! Custom capture: the app produces the media and pushes it in.
//!
//! [`custom_video`] and [`custom_audio`] return a push handle for the app and
//! a [`FrameReceiver`] for the pipeline. Every push is validated and fails
//! with a [`FrameError`] (code [`InvalidFrame`](protocol::ErrorCode::InvalidFrame))
//! when the data does not match its declared format. When nobody consumes
//! (the receiver was dropped) pushes succeed and the media is discarded.

use super::queue::{frame_queue, FrameReceiver, FrameSender};
use crate::frame::{
    check_audio_format, AudioFrame, FrameError, VideoFrame, AUDIO_FRAME_SAMPLES, AUDIO_FRAME_US,
    AUDIO_SAMPLE_RATE,
};
use std::sync::{Arc, Mutex};

/// Video frames buffered for the pipeline.
const VIDEO_QUEUE_FRAMES: usize = 2;
/// Audio frames (20 ms) buffered for the pipeline.
const AUDIO_QUEUE_FRAMES: usize = 25;

/// A custom video source and the queue the pipeline reads its frames from.
pub fn custom_video() -> (CustomVideoSource, FrameReceiver<VideoFrame>) {
    let (tx, rx) = frame_queue(VIDEO_QUEUE_FRAMES);
    (CustomVideoSource { tx }, rx)
}

/// A custom audio source of `channels` (1 or 2) at 48 kHz and the queue the
/// pipeline reads its 20 ms frames from.
pub fn custom_audio(
    channels: u16,
) -> Result<(CustomAudioSource, FrameReceiver<AudioFrame>), FrameError> {
    check_audio_format(AUDIO_SAMPLE_RATE, channels)?;
    let (tx, rx) = frame_queue(AUDIO_QUEUE_FRAMES);
    Ok((
        CustomAudioSource {
            channels,
            tx,
            pending: Arc::new(Mutex::new(Pending::default())),
        },
        rx,
    ))
}

/// The app's audio input for [`AudioSourceKind::CustomInput`](super::source::AudioSourceKind::CustomInput):
/// unlike a [`CustomAudioSource`], it stays valid across pipeline restarts
/// (each start attaches a fresh queue to it). Pushes while no pipeline runs
/// are validated and dropped. Clones share the input.
#[derive(Debug, Clone, Default)]
pub struct CustomAudioInput {
    current: Arc<Mutex<Option<CustomAudioSource>>>,
}

impl PartialEq for CustomAudioInput {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.current, &other.current)
    }
}

impl CustomAudioInput {
    /// Pushes interleaved PCM (see [`CustomAudioSource::push_pcm`]).
    pub fn push_pcm(
        &self,
        samples: &[i16],
        sample_rate: u32,
        channels: u16,
        capture_time_us: u64,
    ) -> Result<(), FrameError> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some(source) => source.push_pcm(samples, sample_rate, channels, capture_time_us),
            None => check_audio_format(sample_rate, channels),
        }
    }

    /// A new source of `channels` for a starting pipeline, which from now
    /// on gets what is pushed here.
    pub(super) fn attach(
        &self,
        channels: u16,
    ) -> Result<(CustomAudioSource, FrameReceiver<AudioFrame>), FrameError> {
        let (source, frames) = custom_audio(channels)?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(source.clone());
        Ok((source, frames))
    }
}

/// The app's handle to push video frames. Cheap to clone; frames may change
/// size between pushes (the encoder follows).
#[derive(Debug, Clone)]
pub struct CustomVideoSource {
    tx: FrameSender<VideoFrame>,
}

impl CustomVideoSource {
    /// Pushes an I420 frame (Y, U, V planes tightly packed).
    pub fn push_i420(
        &self,
        width: u32,
        height: u32,
        data: Vec<u8>,
        capture_time_us: u64,
    ) -> Result<(), FrameError> {
        self.push_frame(VideoFrame::new(width, height, data, capture_time_us)?)
    }

    /// Pushes an RGBA frame (`width * height * 4` bytes), converted to I420.
    pub fn push_rgba(
        &self,
        width: u32,
        height: u32,
        rgba: &[u8],
        capture_time_us: u64,
    ) -> Result<(), FrameError> {
        let mut frame = VideoFrame::from_rgba(width, height, rgba)?;
        frame.capture_time_us = capture_time_us;
        self.push_frame(frame)
    }

    /// Pushes a ready frame after validating it.
    pub fn push_frame(&self, frame: VideoFrame) -> Result<(), FrameError> {
        frame.validate()?;
        let _ = self.tx.send(frame);
        Ok(())
    }

    /// True when the pipeline stopped reading.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The app's handle to push PCM. Accepts any number of samples per push and
/// re-chunks them into 20 ms frames. Cheap to clone (clones share the
/// partial-frame buffer).
#[derive(Debug, Clone)]
pub struct CustomAudioSource {
    channels: u16,
    tx: FrameSender<AudioFrame>,
    pending: Arc<Mutex<Pending>>,
}

#[derive(Debug, Default)]
struct Pending {
    samples: Vec<i16>,
    first_sample_us: u64,
}

impl CustomAudioSource {
    /// The channel count this source was created with.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Pushes interleaved PCM whose first sample was captured at
    /// `capture_time_us`. The format must be 48 kHz with this source's
    /// channel count, and the length a whole number of sample frames.
    pub fn push_pcm(
        &self,
        samples: &[i16],
        sample_rate: u32,
        channels: u16,
        capture_time_us: u64,
    ) -> Result<(), FrameError> {
        check_audio_format(sample_rate, channels)?;
        if channels != self.channels {
            return Err(FrameError::UnsupportedChannels(channels));
        }
        let ch = channels as usize;
        if samples.len() % ch != 0 {
            return Err(FrameError::WrongSampleCount {
                expected: samples.len() / ch * ch,
                actual: samples.len(),
            });
        }
        let frame_len = AUDIO_FRAME_SAMPLES * ch;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.samples.is_empty() {
            pending.first_sample_us = capture_time_us;
        }
        pending.samples.extend_from_slice(samples);
        while pending.samples.len() >= frame_len {
            let frame = AudioFrame {
                sample_rate,
                channels,
                samples: pending.samples.drain(..frame_len).collect(),
                capture_time_us: pending.first_sample_us,
            };
            pending.first_sample_us += AUDIO_FRAME_US;
            let _ = self.tx.send(frame);
        }
        Ok(())
    }

    /// Pushes a whole 20 ms frame after validating it.
    pub fn push_frame(&self, frame: &AudioFrame) -> Result<(), FrameError> {
        frame.validate()?;
        self.push_pcm(
            &frame.samples,
            frame.sample_rate,
            frame.channels,
            frame.capture_time_us,
        )
    }

    /// True when the pipeline stopped reading.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    #[test]
    fn video_pushes_are_validated() {
        let (source, mut frames) = custom_video();
        let err = source.push_i420(64, 48, vec![0; 100], 1).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidFrame);
        assert!(source.push_i420(63, 48, vec![0; 4536], 1).is_err());
        assert!(source.push_rgba(4, 4, &[0; 63], 1).is_err());
        source.push_i420(64, 48, vec![16; 4608], 1).unwrap();
        source.push_rgba(4, 4, &[255; 64], 2).unwrap();
        let a = frames.try_recv().unwrap();
        assert_eq!((a.width, a.capture_time_us), (64, 1));
        let b = frames.try_recv().unwrap();
        assert_eq!((b.width, b.capture_time_us, b.y()[0]), (4, 2, 235));
        drop(frames);
        assert!(source.is_closed());
        source.push_i420(64, 48, vec![16; 4608], 3).unwrap();
    }

    #[test]
    fn an_audio_input_feeds_the_latest_attached_queue() {
        let input = CustomAudioInput::default();
        let pcm = vec![7i16; AUDIO_FRAME_SAMPLES];
        // No pipeline yet: validated, dropped.
        input.push_pcm(&pcm, AUDIO_SAMPLE_RATE, 1, 0).unwrap();
        assert!(input.push_pcm(&pcm, 44_100, 1, 0).is_err());
        let (_, mut first) = input.attach(1).unwrap();
        input.push_pcm(&pcm, AUDIO_SAMPLE_RATE, 1, 5).unwrap();
        assert_eq!(first.try_recv().unwrap().capture_time_us, 5);
        // A restart attaches a new queue; the same input feeds it.
        let (_, mut second) = input.attach(1).unwrap();
        input.push_pcm(&pcm, AUDIO_SAMPLE_RATE, 1, 9).unwrap();
        assert_eq!(second.try_recv().unwrap().capture_time_us, 9);
        assert!(first.try_recv().is_none());
        assert_eq!(input, input.clone());
        assert_ne!(input, CustomAudioInput::default());
    }

    #[test]
    fn audio_is_validated_and_rechunked_into_20_ms_frames() {
        assert!(custom_audio(3).is_err());
        let (source, mut frames) = custom_audio(2).unwrap();
        assert!(source.push_pcm(&[0; 10], 44_100, 2, 0).is_err());
        assert!(source.push_pcm(&[0; 10], 48_000, 1, 0).is_err());
        assert!(source.push_pcm(&[0; 11], 48_000, 2, 0).is_err());
        // 30 ms then 10 ms: two frames, the second dated 20 ms after the first.
        source.push_pcm(&[1; 2 * 1440], 48_000, 2, 1_000).unwrap();
        source.push_pcm(&[2; 2 * 480], 48_000, 2, 31_000).unwrap();
        let a = frames.try_recv().unwrap();
        let b = frames.try_recv().unwrap();
        assert!(frames.try_recv().is_none());
        a.validate().unwrap();
        b.validate().unwrap();
        assert_eq!((a.capture_time_us, b.capture_time_us), (1_000, 21_000));
        assert_eq!((b.samples[0], b.samples[2 * 960 - 1]), (1, 2));
    }
}
