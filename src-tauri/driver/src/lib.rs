//! Drives the desktop app for its E2E tests and its bench (`confer-app`'s
//! tests/ and benches/): the app under tauri-driver, a WebDriver client,
//! `confer call` participants, and X screen reading.

pub mod app;
pub mod participant;
pub mod screen;
pub mod webdriver;
