//! Shared by the app E2E test and the app bench: the app under tauri-driver,
//! a WebDriver client, `confer call` participants, and X screen reading.
#![allow(dead_code)] // each test target uses its own subset

pub(crate) mod app;
pub(crate) mod participant;
pub(crate) mod screen;
pub(crate) mod webdriver;
