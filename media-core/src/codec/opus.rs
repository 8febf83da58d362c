//! Opus at 48 kHz with 20 ms frames, set up for calls: VoIP application,
//! in-band FEC on (each packet also carries a low-rate copy of the previous
//! frame), a packet-loss hint that tunes how much FEC to spend, and packet
//! loss concealment on the decoding side.

use super::CodecError;
use crate::frame::{check_audio_format, AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use bytes::Bytes;
use opus::{Application, Bitrate, Channels};

/// Default bitrate: 32 kbit/s mono, 64 kbit/s stereo.
pub const DEFAULT_BITRATE_BPS_PER_CHANNEL: i32 = 32_000;
/// Default packet-loss hint in percent.
pub const DEFAULT_PACKET_LOSS_PERCENT: u8 = 10;
/// The largest packet DTX makes for a frame it does not need sent.
pub const DTX_PACKET_MAX: usize = 2;
/// Largest packet the encoder may produce.
const MAX_PACKET: usize = 1500;

/// An Opus encoder for 20 ms frames.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    channels: u16,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

fn channels_of(channels: u16) -> Channels {
    if channels == 2 {
        Channels::Stereo
    } else {
        Channels::Mono
    }
}

impl OpusEncoder {
    /// An encoder for `sample_rate` (must be 48000) and `channels` (1 or 2),
    /// with FEC on, a 10 % loss hint and 32 kbit/s per channel.
    pub fn new(sample_rate: u32, channels: u16) -> Result<OpusEncoder, CodecError> {
        check_audio_format(sample_rate, channels)?;
        let mut encoder = opus::Encoder::new(sample_rate, channels_of(channels), Application::Voip)
            .map_err(CodecError::OpusEncoder)?;
        encoder
            .set_inband_fec(true)
            .map_err(CodecError::OpusEncoder)?;
        encoder
            .set_packet_loss_perc(DEFAULT_PACKET_LOSS_PERCENT as i32)
            .map_err(CodecError::OpusEncoder)?;
        encoder
            .set_bitrate(Bitrate::Bits(
                DEFAULT_BITRATE_BPS_PER_CHANNEL * channels as i32,
            ))
            .map_err(CodecError::OpusEncoder)?;
        Ok(OpusEncoder { encoder, channels })
    }

    /// Sets the target bitrate (clamped to 6..=510 kbit/s).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), CodecError> {
        self.encoder
            .set_bitrate(Bitrate::Bits(bps.clamp(6_000, 510_000) as i32))
            .map_err(CodecError::OpusEncoder)
    }

    /// Tells the encoder the expected packet loss (0..=100 %), which sets how
    /// much of each packet goes to FEC.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), CodecError> {
        self.encoder
            .set_packet_loss_perc(percent.min(100) as i32)
            .map_err(CodecError::OpusEncoder)
    }

    /// Switches discontinuous transmission on or off: in silence the
    /// encoder then makes packets of at most [`DTX_PACKET_MAX`] bytes, which
    /// need not be sent (see [`is_dtx_packet`]).
    pub fn set_dtx(&mut self, on: bool) -> Result<(), CodecError> {
        self.encoder.set_dtx(on).map_err(CodecError::OpusEncoder)
    }

    /// Encodes one 20 ms frame of this encoder's channel count.
    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Bytes, CodecError> {
        frame.validate()?;
        if frame.channels != self.channels {
            return Err(crate::frame::FrameError::UnsupportedChannels(frame.channels).into());
        }
        let packet = self
            .encoder
            .encode_vec(&frame.samples, MAX_PACKET)
            .map_err(CodecError::OpusEncoder)?;
        Ok(Bytes::from(packet))
    }
}

/// Whether an encoded packet is a DTX frame (silence nobody needs sent).
pub fn is_dtx_packet(packet: &[u8]) -> bool {
    packet.len() <= DTX_PACKET_MAX
}

/// An Opus decoder producing 20 ms frames.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    channels: u16,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder for `sample_rate` (must be 48000) and `channels` (1 or 2).
    pub fn new(sample_rate: u32, channels: u16) -> Result<OpusDecoder, CodecError> {
        check_audio_format(sample_rate, channels)?;
        let decoder = opus::Decoder::new(sample_rate, channels_of(channels))
            .map_err(CodecError::OpusDecoder)?;
        Ok(OpusDecoder { decoder, channels })
    }

    /// Decodes a packet (capture time 0 on the result).
    pub fn decode(&mut self, packet: &[u8]) -> Result<AudioFrame, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::Decoder("empty opus packet".into()));
        }
        self.run(packet, false)
    }

    /// Recovers the frame *before* `next_packet` (which was lost) from the
    /// FEC data inside `next_packet`; falls back to concealment when the
    /// packet carries no FEC. Call it before decoding `next_packet` itself.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Result<AudioFrame, CodecError> {
        if next_packet.is_empty() {
            return self.conceal();
        }
        self.run(next_packet, true)
    }

    /// Conceals one missing 20 ms frame (packet loss concealment).
    pub fn conceal(&mut self) -> Result<AudioFrame, CodecError> {
        self.run(&[], false)
    }

    fn run(&mut self, packet: &[u8], fec: bool) -> Result<AudioFrame, CodecError> {
        // Room for the largest Opus frame (120 ms); FEC and PLC ask for 20 ms.
        let per_channel = if fec || packet.is_empty() {
            AUDIO_FRAME_SAMPLES
        } else {
            AUDIO_FRAME_SAMPLES * 6
        };
        let mut samples = vec![0i16; per_channel * self.channels as usize];
        let n = self
            .decoder
            .decode(packet, &mut samples, fec)
            .map_err(CodecError::OpusDecoder)?;
        samples.truncate(n * self.channels as usize);
        Ok(AudioFrame {
            sample_rate: AUDIO_SAMPLE_RATE,
            channels: self.channels,
            samples,
            capture_time_us: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::tone::{dominant_frequency, ToneGenerator};

    fn round_trip(freq: f64, channels: u16) -> f64 {
        let mut tone = ToneGenerator::new(freq, AUDIO_SAMPLE_RATE, channels);
        let mut enc = OpusEncoder::new(48_000, channels).unwrap();
        let mut dec = OpusDecoder::new(48_000, channels).unwrap();
        let mut out = Vec::new();
        for i in 0..75 {
            let packet = enc.encode(&tone.next_frame(i * 20_000)).unwrap();
            assert!(
                packet.len() < 400,
                "a 20 ms packet is small: {}",
                packet.len()
            );
            let frame = dec.decode(&packet).unwrap();
            frame.validate().unwrap();
            out.extend(frame.samples);
        }
        dominant_frequency(&out[48_000 / 4 * channels as usize..], channels, 48_000).unwrap()
    }

    #[test]
    fn tone_frequency_survives_the_round_trip() {
        for (freq, channels) in [(440.0, 1), (1000.0, 2), (3000.0, 1)] {
            let est = round_trip(freq, channels);
            assert!(
                ((est - freq) / freq).abs() < 0.02,
                "{freq} Hz came back as {est:.1}"
            );
        }
    }

    #[test]
    fn fec_and_plc_return_full_frames() {
        let mut tone = ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 2);
        let mut enc = OpusEncoder::new(48_000, 2).unwrap();
        enc.set_packet_loss_percent(20).unwrap();
        let mut dec = OpusDecoder::new(48_000, 2).unwrap();
        let packets: Vec<_> = (0..10)
            .map(|i| enc.encode(&tone.next_frame(i * 20_000)).unwrap())
            .collect();
        for p in &packets[..5] {
            dec.decode(p).unwrap();
        }
        // Packet 5 lost: recover it from packet 6's FEC, then decode 6.
        let recovered = dec.decode_fec(&packets[6]).unwrap();
        recovered.validate().unwrap();
        assert!(
            recovered.samples.iter().any(|&s| s != 0),
            "FEC carries audio"
        );
        dec.decode(&packets[6]).unwrap().validate().unwrap();
        // Packet 7 lost with no successor: conceal.
        let concealed = dec.conceal().unwrap();
        concealed.validate().unwrap();
        dec.decode(&packets[8]).unwrap().validate().unwrap();
    }

    #[test]
    fn dtx_makes_silence_unsendable() {
        let mut enc = OpusEncoder::new(48_000, 1).unwrap();
        let silence = |i: u64| AudioFrame::silence(1, i * 20_000);
        enc.set_dtx(true).unwrap();
        let dtx = (0..50)
            .filter(|&i| is_dtx_packet(&enc.encode(&silence(i)).unwrap()))
            .count();
        assert!(dtx > 30, "{dtx} of 50 silent frames are DTX");
        enc.set_dtx(false).unwrap();
        assert!(!is_dtx_packet(&enc.encode(&silence(50)).unwrap()));
        let mut tone = ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 1);
        enc.set_dtx(true).unwrap();
        let sent = (51..80)
            .filter(|&i| !is_dtx_packet(&enc.encode(&tone.next_frame(i * 20_000)).unwrap()))
            .count();
        assert_eq!(sent, 29, "a tone is never DTX");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(OpusEncoder::new(44_100, 1).is_err());
        assert!(OpusDecoder::new(48_000, 3).is_err());
        let mut enc = OpusEncoder::new(48_000, 1).unwrap();
        assert!(enc.encode(&AudioFrame::silence(2, 0)).is_err());
        enc.set_bitrate(24_000).unwrap();
        let mut dec = OpusDecoder::new(48_000, 1).unwrap();
        assert!(dec.decode(&[]).is_err());
        // A packet whose TOC byte promises more than it holds.
        assert!(dec.decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
