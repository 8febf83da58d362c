//! The engine the UI drives, in Tauri's managed state. There is at most one;
//! SDK commands before `create_engine` fail with [`CommandError::no_engine`].

use std::sync::{Mutex, MutexGuard, PoisonError};

use confer_app_types::audio::AudioProcessing;
use media_core::Engine;

use crate::error::CommandError;

/// The current engine, the devices the user picked (so switching the
/// source back to "camera" or "microphone" keeps the choice) and the audio
/// processing they chose (every new engine starts with it).
#[derive(Debug, Default)]
pub struct EngineState {
    engine: Mutex<Option<Engine>>,
    camera: Mutex<Option<String>>,
    microphone: Mutex<Option<String>>,
    audio_processing: Mutex<AudioProcessing>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EngineState {
    /// A handle to the engine (cheap clone), or the "no engine" error.
    pub fn engine(&self) -> Result<Engine, CommandError> {
        lock(&self.engine)
            .clone()
            .ok_or_else(CommandError::no_engine)
    }

    /// Installs `engine` with the chosen audio processing, returning the
    /// previous one (to destroy).
    pub fn replace(&self, engine: Option<Engine>) -> Option<Engine> {
        if let Some(engine) = &engine {
            apply_audio_processing(engine, *lock(&self.audio_processing));
        }
        std::mem::replace(&mut *lock(&self.engine), engine)
    }

    /// Remembers the audio processing choice and applies it to the engine
    /// there is (before or during a call).
    pub fn set_audio_processing(&self, choice: AudioProcessing) {
        *lock(&self.audio_processing) = choice;
        if let Some(engine) = lock(&self.engine).as_ref() {
            apply_audio_processing(engine, choice);
        }
    }

    /// The audio processing choice (what every new engine gets).
    pub fn audio_processing(&self) -> AudioProcessing {
        *lock(&self.audio_processing)
    }

    /// The camera chosen with `use_video_device` (`None`: the default one).
    pub fn camera(&self) -> Option<String> {
        lock(&self.camera).clone()
    }

    /// Remembers the chosen camera.
    pub fn set_camera(&self, id: Option<String>) {
        *lock(&self.camera) = id;
    }

    /// The microphone chosen with `use_audio_device`.
    pub fn microphone(&self) -> Option<String> {
        lock(&self.microphone).clone()
    }

    /// Remembers the chosen microphone.
    pub fn set_microphone(&self, id: Option<String>) {
        *lock(&self.microphone) = id;
    }
}

/// Sets `engine`'s echo cancellation and noise suppression to `choice`
/// through the SDK's setters (each takes effect before the next captured
/// frame).
fn apply_audio_processing(engine: &Engine, choice: AudioProcessing) {
    let config = choice.applied_to(engine.audio_processing_config());
    engine.enable_aec(config.aec);
    engine.enable_headphone_aec(config.headphone_aec);
    engine.set_ans_mode(config.ans_mode);
    engine.enable_ans(config.ans);
}
