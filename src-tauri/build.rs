//! Generates the Tauri context (config, embedded UI assets, icons).

fn main() {
    tauri_build::build();
}
