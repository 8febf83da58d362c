//! `confer call`'s voice processing flags: echo cancellation, noise
//! suppression, gain control (the SDK's `enable_aec` / `set_aec_mode`,
//! `enable_ans` / `set_ans_mode`, `enable_agc`, `enable_headphone_aec`) and
//! Opus DTX. Processing applies to a microphone, not to `--audio tone`.

use clap::{Args, ValueEnum};
use media_core::audio_processing::{AecMode, AnsMode};
use media_core::Engine;

/// The voice processing flags.
#[derive(Args, Debug)]
pub(crate) struct AudioProcessingArgs {
    /// Echo cancellation of the microphone.
    #[arg(long, value_enum, default_value_t = Aec::Medium)]
    aec: Aec,
    /// Keep echo cancellation on when the output's name says headphones.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    headphone_aec: bool,
    /// Noise suppression of the microphone (`ai`: RNNoise); every mode also
    /// takes keyboard clicks out.
    #[arg(long, value_enum, default_value_t = Ans::Medium)]
    ans: Ans,
    /// Automatic gain control of the microphone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    agc: bool,
    /// Opus DTX: no audio packets in silence.
    #[arg(long)]
    dtx: bool,
}

/// `--aec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Aec {
    Off,
    Soft,
    Medium,
    Aggressive,
}

/// `--ans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Ans {
    Off,
    Soft,
    Medium,
    Aggressive,
    Ai,
}

impl AudioProcessingArgs {
    /// Sets the engine's processing and DTX from the flags.
    pub(crate) fn apply(&self, engine: &Engine) {
        let aec_mode = match self.aec {
            Aec::Off => None,
            Aec::Soft => Some(AecMode::Soft),
            Aec::Medium => Some(AecMode::Medium),
            Aec::Aggressive => Some(AecMode::Aggressive),
        };
        engine.enable_aec(aec_mode.is_some());
        engine.set_aec_mode(aec_mode.unwrap_or_default());
        engine.enable_headphone_aec(self.headphone_aec);
        let ans_mode = match self.ans {
            Ans::Off => None,
            Ans::Soft => Some(AnsMode::Soft),
            Ans::Medium => Some(AnsMode::Medium),
            Ans::Aggressive => Some(AnsMode::Aggressive),
            Ans::Ai => Some(AnsMode::Ai),
        };
        engine.enable_ans(ans_mode.is_some());
        engine.set_ans_mode(ans_mode.unwrap_or_default());
        engine.enable_agc(self.agc);
        engine.enable_audio_dtx(self.dtx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AudioProcessingArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::parse_from(["x"]);
        assert_eq!((cli.args.aec, cli.args.ans), (Aec::Medium, Ans::Medium));
        assert!(cli.args.agc && cli.args.headphone_aec && !cli.args.dtx);
        let cli = Cli::parse_from([
            "x", "--aec", "off", "--ans", "ai", "--agc", "false", "--dtx",
        ]);
        assert_eq!((cli.args.aec, cli.args.ans), (Aec::Off, Ans::Ai));
        assert!(!cli.args.agc && cli.args.dtx);
    }
}
