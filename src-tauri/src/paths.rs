//! Where the app keeps its files.

use std::path::PathBuf;

/// The app's config directory: `$XDG_CONFIG_HOME/confer`, else
/// `~/.config/confer` (on Windows without `HOME`, `%APPDATA%\confer`). The
/// embedded server's `server.toml` lives here too, as for `confer serve`.
pub fn config_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_CONFIG_HOME") {
        return PathBuf::from(xdg).join("confer");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home).join(".config").join("confer");
    }
    if let Some(appdata) = non_empty("APPDATA") {
        return PathBuf::from(appdata).join("confer");
    }
    PathBuf::from("confer-config")
}
