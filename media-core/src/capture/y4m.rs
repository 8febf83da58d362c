//! A YUV4MPEG2 (`.y4m`) file as a looping video source.
//!
//! Only 4:2:0 files (`C420`, `C420jpeg`, `C420paldv`, `C420mpeg2`, or no `C`
//! tag) with even sizes are accepted; frames come out as [`VideoFrame`]s in
//! file order and the file restarts at its end.

use crate::frame::VideoFrame;
use protocol::ErrorCode;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Errors opening or reading a `.y4m` file.
#[derive(Debug, thiserror::Error)]
pub enum Y4mError {
    /// The file does not exist.
    #[error("no such file: {0}")]
    NotFound(PathBuf),
    /// Reading failed.
    #[error("reading the y4m file failed: {0}")]
    Io(#[from] std::io::Error),
    /// The header is not a YUV4MPEG2 header or lacks W, H or F.
    #[error("not a valid YUV4MPEG2 file: {0}")]
    BadHeader(String),
    /// The file is not 4:2:0, or has an odd size.
    #[error("unsupported y4m format {0}: only 4:2:0 (C420*) with even width and height")]
    Unsupported(String),
    /// The file holds no frame.
    #[error("the y4m file holds no frame")]
    Empty,
}

impl Y4mError {
    /// The error code of this error: [`ErrorCode::DeviceNotFound`] for a
    /// missing file, [`ErrorCode::DeviceOpenFailed`] otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            Y4mError::NotFound(_) => ErrorCode::DeviceNotFound,
            _ => ErrorCode::DeviceOpenFailed,
        }
    }
}

/// Reads the frames of a `.y4m` file, looping forever.
#[derive(Debug)]
pub struct Y4mReader {
    reader: BufReader<File>,
    width: u32,
    height: u32,
    fps_num: u32,
    fps_den: u32,
    data_start: u64,
}

impl Y4mReader {
    /// Opens a file and parses its header; fails unless it is 4:2:0 with at
    /// least one frame.
    pub fn open(path: impl AsRef<Path>) -> Result<Y4mReader, Y4mError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Y4mError::NotFound(path.to_owned()),
            _ => Y4mError::Io(e),
        })?;
        let mut reader = BufReader::new(file);
        let header = read_line(&mut reader, 1024)?
            .ok_or_else(|| Y4mError::BadHeader("empty file".into()))?;
        let mut tags = header.split(' ');
        if tags.next() != Some("YUV4MPEG2") {
            return Err(Y4mError::BadHeader("missing YUV4MPEG2 signature".into()));
        }
        let (mut width, mut height, mut fps) = (None, None, None);
        for tag in tags.filter(|t| !t.is_empty()) {
            let (key, value) = tag.split_at(1);
            match key {
                "W" => width = value.parse::<u32>().ok(),
                "H" => height = value.parse::<u32>().ok(),
                "F" => {
                    fps = value
                        .split_once(':')
                        .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
                }
                "C" if !value.starts_with("420") => {
                    return Err(Y4mError::Unsupported(format!("C{value}")))
                }
                "I" if value != "p" && value != "?" => {
                    return Err(Y4mError::Unsupported(format!("interlacing I{value}")))
                }
                _ => {}
            }
        }
        let width = width.ok_or_else(|| Y4mError::BadHeader("missing or bad W".into()))?;
        let height = height.ok_or_else(|| Y4mError::BadHeader("missing or bad H".into()))?;
        let (fps_num, fps_den) = fps
            .filter(|&(n, d)| n > 0 && d > 0)
            .ok_or_else(|| Y4mError::BadHeader("missing or bad F".into()))?;
        if VideoFrame::check_size(width, height).is_err() {
            return Err(Y4mError::Unsupported(format!("size {width}x{height}")));
        }
        let data_start = reader.stream_position()?;
        let mut y4m = Y4mReader {
            reader,
            width,
            height,
            fps_num,
            fps_den,
            data_start,
        };
        // Make sure there is a first frame, then rewind to it.
        match y4m.read_frame()? {
            Some(_) => y4m.reader.seek(SeekFrom::Start(data_start))?,
            None => return Err(Y4mError::Empty),
        };
        Ok(y4m)
    }

    /// The frame size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The frame rate in frames per second.
    pub fn fps(&self) -> f64 {
        self.fps_num as f64 / self.fps_den as f64
    }

    /// The next frame (capture time 0), starting over after the last one.
    pub fn next_frame(&mut self) -> Result<VideoFrame, Y4mError> {
        if let Some(frame) = self.read_frame()? {
            return Ok(frame);
        }
        self.reader.seek(SeekFrom::Start(self.data_start))?;
        self.read_frame()?.ok_or(Y4mError::Empty)
    }

    /// One frame, or `None` at the end of the file (a truncated last frame
    /// also counts as the end).
    fn read_frame(&mut self) -> Result<Option<VideoFrame>, Y4mError> {
        let Some(line) = read_line(&mut self.reader, 4096)? else {
            return Ok(None);
        };
        if !line.starts_with("FRAME") {
            return Err(Y4mError::BadHeader(format!(
                "expected FRAME, found {:?}",
                line.chars().take(16).collect::<String>()
            )));
        }
        let mut data = vec![0; VideoFrame::i420_len(self.width, self.height)];
        match self.reader.read_exact(&mut data) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        Ok(Some(VideoFrame {
            width: self.width,
            height: self.height,
            data,
            capture_time_us: 0,
        }))
    }
}

/// Writes frames as a `.y4m` file (`C420jpeg`), e.g. to save received video.
pub fn write_y4m(
    out: &mut impl std::io::Write,
    frames: &[VideoFrame],
    fps: u32,
) -> std::io::Result<()> {
    let Some(first) = frames.first() else {
        return Ok(());
    };
    writeln!(
        out,
        "YUV4MPEG2 W{} H{} F{fps}:1 Ip A1:1 C420jpeg",
        first.width, first.height
    )?;
    for frame in frames {
        out.write_all(b"FRAME\n")?;
        out.write_all(&frame.data)?;
    }
    Ok(())
}

/// Reads one `\n`-terminated line of at most `max` bytes; `None` at EOF.
fn read_line(reader: &mut impl BufRead, max: u64) -> Result<Option<String>, Y4mError> {
    let mut buf = Vec::new();
    let n = reader.take(max).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(Y4mError::BadHeader("line too long or truncated".into()));
    }
    buf.pop();
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| Y4mError::BadHeader("header is not text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::test_pattern::TestPattern;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("confer-y4m-{}-{name}", std::process::id()))
    }

    #[test]
    fn reads_and_loops_a_generated_file() {
        let mut pattern = TestPattern::new(64, 48);
        let frames: Vec<_> = (0..3).map(|n| pattern.frame(n, 0)).collect();
        let path = temp_path("loop.y4m");
        let mut file = File::create(&path).unwrap();
        write_y4m(&mut file, &frames, 25).unwrap();
        drop(file);

        let mut reader = Y4mReader::open(&path).unwrap();
        assert_eq!(reader.size(), (64, 48));
        assert_eq!(reader.fps(), 25.0);
        for n in 0..7 {
            assert_eq!(reader.next_frame().unwrap().data, frames[n % 3].data);
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn rejects_other_formats_clearly() {
        let path = temp_path("444.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W4 H4 F30:1 C444\nFRAME\n").unwrap();
        let err = Y4mReader::open(&path).unwrap_err();
        assert!(
            matches!(err, Y4mError::Unsupported(ref f) if f == "C444"),
            "{err}"
        );
        assert_eq!(err.code(), ErrorCode::DeviceOpenFailed);

        std::fs::write(&path, b"P6\n4 4\n255\n").unwrap();
        assert!(matches!(
            Y4mReader::open(&path),
            Err(Y4mError::BadHeader(_))
        ));

        std::fs::write(&path, b"YUV4MPEG2 W4 H4 F30:1\n").unwrap();
        assert!(matches!(Y4mReader::open(&path), Err(Y4mError::Empty)));
        std::fs::remove_file(&path).ok();

        let err = Y4mReader::open(temp_path("missing.y4m")).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DeviceNotFound);
    }
}
