//! The data the desktop app's commands take and return, as the UI sends and
//! receives it (serde JSON): command errors, settings, hosting, devices,
//! audio processing, tiles, diagnostics, updates, the engine profile,
//! screen sharing.
//!
//! Kept apart from the app (`confer-app`, which builds Tauri, GTK and the
//! server) so that `contract/` generates the UI's TypeScript for them with
//! a cheap build: with the `ts` feature every type derives `ts_rs::TS`.
//!
//! Modules, one job each: [`error`], [`settings`], [`host`], [`devices`],
//! [`audio`], [`tiles`], [`profile`], [`update`], [`app`], [`share`].

pub mod app;
pub mod audio;
pub mod devices;
pub mod error;
pub mod host;
pub mod profile;
pub mod settings;
pub mod share;
pub mod tiles;
pub mod update;

pub use error::CommandError;
