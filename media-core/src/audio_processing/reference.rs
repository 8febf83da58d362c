//! The echo reference: what the speaker plays, handed to every processor.

use crate::frame::AudioFrame;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Most played audio a tap keeps for its processor (1 s at 48 kHz): a
/// processor that stopped reading (no audio loop running) drops the oldest.
const MAX_QUEUED_SAMPLES: usize = 48_000;

/// Where the speaker delivers each frame it plays (mono, 48 kHz), for the
/// echo cancellers of one engine. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct EchoReference {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    taps: Mutex<Vec<Weak<Mutex<VecDeque<i16>>>>>,
    headphones: AtomicBool,
}

/// One processor's view of an [`EchoReference`]: the played audio since
/// it was made, in order.
#[derive(Debug)]
pub struct RenderTap {
    queue: Arc<Mutex<VecDeque<i16>>>,
    reference: Arc<Inner>,
}

impl EchoReference {
    /// Delivers a played frame to every tap (stereo is averaged to mono).
    pub fn push(&self, frame: &AudioFrame) {
        self.push_samples(&frame.samples, frame.channels);
    }

    /// Delivers played 48 kHz samples (interleaved, `channels`) to every tap.
    pub fn push_samples(&self, samples: &[i16], channels: u16) {
        let mut taps = self.inner.taps.lock().unwrap_or_else(|e| e.into_inner());
        taps.retain(|tap| tap.strong_count() > 0);
        for tap in taps.iter().filter_map(Weak::upgrade) {
            let mut queue = tap.lock().unwrap_or_else(|e| e.into_inner());
            match channels.max(1) {
                1 => queue.extend(samples.iter().copied()),
                channels => {
                    queue.extend(samples.chunks_exact(channels as usize).map(|c| {
                        (c.iter().map(|&s| s as i32).sum::<i32>() / c.len() as i32) as i16
                    }))
                }
            }
            let excess = queue.len().saturating_sub(MAX_QUEUED_SAMPLES);
            queue.drain(..excess);
        }
    }

    /// Tells the processors whether the output looks like headphones
    /// ([`looks_like_headphones`]).
    pub fn set_headphones(&self, headphones: bool) {
        self.inner.headphones.store(headphones, Ordering::Relaxed);
    }

    /// A new tap, receiving what is played from now on.
    pub fn tap(&self) -> RenderTap {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        self.inner
            .taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&queue));
        RenderTap {
            queue,
            reference: self.inner.clone(),
        }
    }
}

impl RenderTap {
    /// Takes the next `block.len()` played samples into `block`; false
    /// (and nothing taken) when fewer have been played.
    pub fn take_block(&self, block: &mut [i16]) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() < block.len() {
            return false;
        }
        let len = block.len();
        for (slot, sample) in block.iter_mut().zip(queue.drain(..len)) {
            *slot = sample;
        }
        true
    }

    /// Whether the output looks like headphones.
    pub fn headphones(&self) -> bool {
        self.reference.headphones.load(Ordering::Relaxed)
    }
}

/// A guess from an output's name: headsets, headphones and earbuds, whose
/// sound does not reach the microphone.
pub fn looks_like_headphones(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["headphone", "headset", "earphone", "earbud", "airpods"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tap_gets_the_played_audio_in_blocks() {
        let reference = EchoReference::default();
        let (a, b) = (reference.tap(), reference.tap());
        let mut frame = AudioFrame::silence(2, 0);
        for (i, s) in frame.samples.iter_mut().enumerate() {
            *s = if i % 2 == 0 { 100 } else { 300 };
        }
        reference.push(&frame);
        let mut block = [0i16; 480];
        assert!(a.take_block(&mut block));
        assert_eq!(block, [200; 480]);
        assert!(a.take_block(&mut block));
        assert!(!a.take_block(&mut block), "20 ms make two blocks");
        assert!(b.take_block(&mut block));
        drop(a);
        reference.push(&frame);
        assert_eq!(reference.inner.taps.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_tap_keeps_at_most_a_second() {
        let reference = EchoReference::default();
        let tap = reference.tap();
        for _ in 0..100 {
            reference.push(&AudioFrame::silence(1, 0));
        }
        assert_eq!(tap.queue.lock().unwrap().len(), MAX_QUEUED_SAMPLES);
    }

    #[test]
    fn headphone_names() {
        assert!(looks_like_headphones("Jabra Evolve Headset"));
        assert!(looks_like_headphones(
            "Built-in Audio Analog Stereo (Headphones)"
        ));
        assert!(!looks_like_headphones("Built-in Audio Analog Stereo"));
    }
}
