//! The engine the UI drives, in Tauri's managed state. There is at most one;
//! SDK commands before `create_engine` fail with [`CommandError::no_engine`].

use std::sync::{Mutex, MutexGuard, PoisonError};

use media_core::Engine;

use crate::error::CommandError;

/// The current engine, and the devices the user picked (so switching the
/// source back to "camera" or "microphone" keeps the choice).
#[derive(Debug, Default)]
pub struct EngineState {
    engine: Mutex<Option<Engine>>,
    camera: Mutex<Option<String>>,
    microphone: Mutex<Option<String>>,
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

    /// Installs `engine`, returning the previous one (to destroy).
    pub fn replace(&self, engine: Option<Engine>) -> Option<Engine> {
        std::mem::replace(&mut *lock(&self.engine), engine)
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
