//! The X screen: screenshots with ImageMagick's `import`, window geometry
//! with `xdotool`, and the test pattern's barcode read inside a rectangle.

use media_core::capture::barcode;
use media_core::frame::VideoFrame;
use std::path::Path;
use std::process::Command;

/// A rectangle in screen pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// The largest `aspect` (w/h) rectangle centred in this one: where an
    /// aspect-fit picture is drawn.
    pub fn fit(&self, aspect: f64) -> Rect {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let (fw, fh) = if w / h > aspect {
            (h * aspect, h)
        } else {
            (w, w / aspect)
        };
        Rect {
            x: self.x + ((w - fw) / 2.0).round() as i32,
            y: self.y + ((h - fh) / 2.0).round() as i32,
            width: fw.round() as u32,
            height: fh.round() as u32,
        }
    }
}

/// Saves the whole X screen as a PNG.
pub fn screenshot(path: &Path) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .status()
        .expect("ImageMagick `import` (apt install imagemagick)");
    assert!(status.success(), "import failed: {status}");
}

/// The top-left corner of the top-level window titled `title`, in screen pixels.
pub fn window_origin(title: &str) -> (i32, i32) {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", &format!("^{title}$")])
        .args(["getwindowgeometry", "--shell"])
        .output()
        .expect("xdotool (apt install xdotool)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> i32 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in xdotool output: {text}"))
    };
    (field("X"), field("Y"))
}

/// Reads the barcode of the picture drawn in `rect` of the PNG at `shot`,
/// scaling the crop back to the video's own `video_w` x `video_h` first.
pub fn read_barcode(shot: &Path, rect: Rect, video_w: u32, video_h: u32) -> Option<u32> {
    let out = Command::new("convert")
        .arg(shot)
        .args([
            "-crop",
            &format!("{}x{}+{}+{}", rect.width, rect.height, rect.x, rect.y),
            "+repage",
            "-resize",
            &format!("{video_w}x{video_h}!"),
            "-depth",
            "8",
            "rgba:-",
        ])
        .output()
        .expect("ImageMagick `convert`");
    if !out.status.success() || out.stdout.len() != (video_w * video_h * 4) as usize {
        return None;
    }
    let frame = VideoFrame::from_rgba(video_w, video_h, &out.stdout).ok()?;
    barcode::read(&frame).map(|s| s.frame_number)
}

/// Clicks the left mouse button at screen position (`x`, `y`) with xdotool:
/// a real X click, delivered to whatever window is there.
pub fn click_at(x: i32, y: i32) {
    let status = Command::new("xdotool")
        .args([
            "mousemove",
            "--sync",
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ])
        .status()
        .expect("run xdotool");
    assert!(status.success(), "xdotool click at {x},{y} failed");
}
