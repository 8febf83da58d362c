//! Which sources a listing leaves out: the app's own windows, so a share
//! never shows the app to itself.

use super::{ScreenSourceInfo, ScreenTarget};

/// What to list: the display, and the windows never to include (by the
/// process that owns them, `_NET_WM_PID`, or by X window id). The default
/// lists everything on `$DISPLAY`.
///
/// ```
/// use media_core::capture::screen::ScreenSourceQuery;
/// // Everything but this process's own windows.
/// let query = ScreenSourceQuery {
///     exclude_pids: vec![std::process::id()],
///     ..ScreenSourceQuery::default()
/// };
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenSourceQuery {
    /// The X display (`None`: `$DISPLAY`).
    pub display: Option<String>,
    /// Windows owned by these processes are left out.
    pub exclude_pids: Vec<u32>,
    /// These windows (X ids) are left out.
    pub exclude_windows: Vec<u32>,
}

impl ScreenSourceQuery {
    /// Whether `source` is one of the windows left out (screens never are).
    pub fn excludes(&self, source: &ScreenSourceInfo) -> bool {
        match source.target {
            ScreenTarget::Window(id) => {
                self.exclude_windows.contains(&id)
                    || source
                        .pid
                        .is_some_and(|pid| self.exclude_pids.contains(&pid))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(id: u32, pid: Option<u32>) -> ScreenSourceInfo {
        ScreenSourceInfo {
            target: ScreenTarget::Window(id),
            name: format!("w{id}"),
            width: 100,
            height: 100,
            pid,
        }
    }

    #[test]
    fn leaves_out_windows_by_process_or_id_never_screens() {
        let query = ScreenSourceQuery {
            exclude_pids: vec![42],
            exclude_windows: vec![7],
            ..ScreenSourceQuery::default()
        };
        assert!(query.excludes(&window(1, Some(42))));
        assert!(query.excludes(&window(7, None)));
        assert!(!query.excludes(&window(2, Some(43))));
        assert!(!query.excludes(&window(3, None)));
        let screen = ScreenSourceInfo {
            target: ScreenTarget::Screen(0),
            pid: None,
            ..window(0, None)
        };
        assert!(!query.excludes(&screen));
        assert!(!ScreenSourceQuery::default().excludes(&window(7, Some(42))));
    }
}
