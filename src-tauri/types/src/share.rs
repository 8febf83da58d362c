//! Screen sharing: what `list_share_sources` returns, what `start_share`
//! takes and returns. The share's later states come as the SDK's
//! `ScreenCaptureStateUpdate` event.

use media_core::capture::screen::{ScreenSourceInfo, ScreenTarget};
use media_core::codec::content::ContentHint;
use media_core::ScreenShareState;
use serde::{Deserialize, Serialize};

use crate::CommandError;

/// Whether a source is a whole screen or one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ShareSourceKind {
    /// A whole screen or monitor (or, on Wayland, the system dialog's
    /// pick).
    Screen,
    /// One top-level window.
    Window,
}

/// A screen or window the user can share (the picker's entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ShareSource {
    /// What to pass to `start_share`: `screen:<index>`, `monitor:<RandR
    /// name atom>`, `window:<X id>`, or `portal` (Wayland: the system's
    /// dialog picks).
    pub id: String,
    /// Screen or window.
    pub kind: ShareSourceKind,
    /// The window title, or "Screen 1".
    pub name: String,
    /// Its width in pixels when listed.
    pub width: u32,
    /// Its height in pixels when listed.
    pub height: u32,
    /// A small picture of it (`data:image/png;base64,...`), or `null` when
    /// it could not be captured (a minimised window).
    pub thumbnail: Option<String>,
}

impl ShareSource {
    /// The entry for a listed source, with its thumbnail's data URL.
    pub fn new(info: &ScreenSourceInfo, thumbnail: Option<String>) -> Self {
        ShareSource {
            id: source_id(info.target),
            kind: match info.target {
                // The portal's dialog offers monitors and windows: shown
                // as a screen card.
                ScreenTarget::Screen(_) | ScreenTarget::Monitor(_) | ScreenTarget::Portal => {
                    ShareSourceKind::Screen
                }
                ScreenTarget::Window(_) => ShareSourceKind::Window,
            },
            name: info.name.clone(),
            width: info.width,
            height: info.height,
            thumbnail,
        }
    }
}

/// The ID of a source: `screen:<index>`, `monitor:<RandR name atom>`,
/// `window:<X id>`, or `portal` (Wayland: the system's dialog picks).
pub fn source_id(target: ScreenTarget) -> String {
    match target {
        ScreenTarget::Screen(i) => format!("screen:{i}"),
        ScreenTarget::Window(xid) => format!("window:{xid}"),
        ScreenTarget::Monitor(name) => format!("monitor:{name}"),
        ScreenTarget::Portal => PORTAL_SOURCE_ID.to_owned(),
    }
}

/// The ID of [`ScreenTarget::Portal`].
const PORTAL_SOURCE_ID: &str = "portal";

/// The target of a source ID; `MalformedMessage` for anything else.
pub fn parse_source_id(id: &str) -> Result<ScreenTarget, CommandError> {
    let bad = || CommandError::invalid_argument(format!("unknown share source {id:?}"));
    if id == PORTAL_SOURCE_ID {
        return Ok(ScreenTarget::Portal);
    }
    let (kind, number) = id.split_once(':').ok_or_else(bad)?;
    let number: u32 = number.parse().map_err(|_| bad())?;
    match kind {
        "screen" => Ok(ScreenTarget::Screen(number)),
        "window" => Ok(ScreenTarget::Window(number)),
        "monitor" => Ok(ScreenTarget::Monitor(number)),
        _ => Err(bad()),
    }
}

/// What the share is for (the browser's `contentHint`): sharp text, text
/// that must be pixel-sharp when still, or smooth motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ShareHint {
    /// Text, code, slides: 5 fps, screen-content coding.
    Text,
    /// Text or pictures that must be pixel-sharp when still: 5 fps.
    Detail,
    /// Video or animation: 30 fps.
    Motion,
}

impl From<ShareHint> for ContentHint {
    fn from(hint: ShareHint) -> Self {
        match hint {
            ShareHint::Text => ContentHint::Text,
            ShareHint::Detail => ContentHint::Detail,
            ShareHint::Motion => ContentHint::Motion,
        }
    }
}

/// A share as `start_share` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ShareStatus {
    /// The stream ID it is published as (the aux channel).
    pub stream_id: String,
    /// What is shared.
    pub source: ShareSource,
    /// Where it is (`Capturing` when it started).
    pub state: ScreenShareState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_round_trip_and_bad_ones_are_refused() {
        for target in [
            ScreenTarget::Screen(0),
            ScreenTarget::Window(0x0400_0007),
            ScreenTarget::Monitor(301),
            ScreenTarget::Portal,
        ] {
            assert_eq!(parse_source_id(&source_id(target)).unwrap(), target);
        }
        for bad in [
            "",
            "screen",
            "screen:x",
            "tab:1",
            "window:-1",
            "window:99999999999",
        ] {
            let error = parse_source_id(bad).unwrap_err();
            assert_eq!(
                error.code,
                protocol::ErrorCode::MalformedMessage.code(),
                "{bad}"
            );
        }
    }

    #[test]
    fn hints_are_snake_case() {
        let hint: ShareHint = serde_json::from_value(serde_json::json!("motion")).unwrap();
        assert_eq!(ContentHint::from(hint), ContentHint::Motion);
        assert!(serde_json::from_value::<ShareHint>(serde_json::json!("Motion")).is_err());
    }
}
