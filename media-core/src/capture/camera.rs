//! Cameras through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media
//! Foundation on Windows).
//!
//! A [`Camera`] runs on its own thread: the thread opens the device, pulls
//! frames at the camera's pace, converts them to I420 and pushes them into a
//! drop-oldest [`frame_queue`](super::queue). Controls (zoom) are requests to
//! that thread, because nokhwa's camera is not shareable across threads.
//! With no camera present every call returns an error; nothing panics.

use super::queue::{frame_queue, FrameReceiver, FrameSender};
use super::{DeviceError, DeviceInfo};
use crate::frame::{unix_time_us, VideoFrame};
use nokhwa::pixel_format::RgbAFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, ControlValueDescription, ControlValueSetter,
    FrameFormat, KnownCameraControl, RequestedFormat, RequestedFormatType, Resolution,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// Frames buffered between the camera thread and the consumer.
const QUEUE_FRAMES: usize = 2;

/// The cameras present now; empty when there are none (or the platform
/// backend is unavailable). The `id` is what [`Camera::open`] takes.
pub fn list_cameras() -> Vec<DeviceInfo> {
    let Some(backend) = nokhwa::native_api_backend() else {
        return Vec::new();
    };
    match nokhwa::query(backend) {
        Ok(cameras) => cameras
            .into_iter()
            .map(|info| DeviceInfo {
                id: index_id(info.index()),
                name: info.human_name(),
            })
            .collect(),
        Err(e) => {
            tracing::debug!("camera query failed: {e}");
            Vec::new()
        }
    }
}

/// An open camera delivering I420 frames from its own thread.
#[derive(Debug)]
pub struct Camera {
    info: DeviceInfo,
    width: u32,
    height: u32,
    fps: u32,
    frames: Option<FrameReceiver<VideoFrame>>,
    commands: mpsc::Sender<Command>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum Command {
    Zoom(f64, mpsc::Sender<Result<(), DeviceError>>),
}

impl Camera {
    /// Opens a camera (`id` from [`list_cameras`], or the first one for
    /// `None`) as close as it supports to `width`x`height` at `fps`, and
    /// starts capturing.
    ///
    /// Errors: [`DeviceError::NoCamera`] when there is no camera at all,
    /// [`DeviceError::DeviceNotFound`] for an unknown id,
    /// [`DeviceError::DeviceOpenFailed`] when the device refuses.
    pub fn open(
        id: Option<&str>,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Camera, DeviceError> {
        let cameras = list_cameras();
        if cameras.is_empty() {
            return Err(DeviceError::NoCamera);
        }
        let info = match id {
            None => cameras[0].clone(),
            Some(id) => cameras
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(|| DeviceError::DeviceNotFound(id.to_owned()))?,
        };
        let (tx, rx) = frame_queue(QUEUE_FRAMES);
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let index = parse_index(&info.id);
        let thread = std::thread::Builder::new()
            .name("confer-camera".into())
            .spawn(move || {
                capture_thread(
                    index,
                    (width, height, fps),
                    tx,
                    cmd_rx,
                    ready_tx,
                    thread_stop,
                )
            })
            .map_err(DeviceError::Thread)?;
        let opened = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| Err(DeviceError::DeviceOpenFailed("camera did not start".into())));
        let (width, height, fps) = match opened {
            Ok(format) => format,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(Camera {
            info,
            width,
            height,
            fps,
            frames: Some(rx),
            commands: cmd_tx,
            stop,
            thread: Some(thread),
        })
    }

    /// Which camera this is.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The size the camera actually delivers (frames are cropped to even sizes).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The frame rate the camera agreed to.
    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// Takes the frame queue (once); later calls return `None`.
    pub fn take_frames(&mut self) -> Option<FrameReceiver<VideoFrame>> {
        self.frames.take()
    }

    /// Sets the zoom factor (1.0 = widest). Maps onto the camera's absolute
    /// zoom control: `min * factor` when the control's minimum is positive
    /// (the UVC convention: value proportional to focal length), otherwise
    /// linearly over the range for factors 1..4; clamped to the range.
    /// [`DeviceError::ZoomUnsupported`] when the camera has no zoom control.
    pub fn set_zoom(&self, factor: f64) -> Result<(), DeviceError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(DeviceError::InvalidConfig(format!(
                "zoom factor must be >= 1, got {factor}"
            )));
        }
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Command::Zoom(factor, tx))
            .map_err(|_| DeviceError::DeviceOpenFailed("the camera has stopped".into()))?;
        rx.recv_timeout(Duration::from_secs(2)).unwrap_or_else(|_| {
            Err(DeviceError::DeviceOpenFailed(
                "the camera has stopped".into(),
            ))
        })
    }

    /// Stops capturing and closes the device.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn index_id(index: &CameraIndex) -> String {
    match index {
        CameraIndex::Index(i) => i.to_string(),
        CameraIndex::String(s) => s.clone(),
    }
}

fn parse_index(id: &str) -> CameraIndex {
    id.parse::<u32>()
        .map(CameraIndex::Index)
        .unwrap_or_else(|_| CameraIndex::String(id.to_owned()))
}

fn capture_thread(
    index: CameraIndex,
    (width, height, fps): (u32, u32, u32),
    frames: FrameSender<VideoFrame>,
    commands: mpsc::Receiver<Command>,
    ready: mpsc::Sender<Result<(u32, u32, u32), DeviceError>>,
    stop: Arc<AtomicBool>,
) {
    let wanted = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps);
    let request = RequestedFormat::new::<RgbAFormat>(RequestedFormatType::Closest(wanted));
    let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
    let opened = nokhwa::Camera::with_backend(index, request, backend).and_then(|mut cam| {
        cam.open_stream()?;
        Ok(cam)
    });
    let mut camera = match opened {
        Ok(cam) => cam,
        Err(e) => {
            let _ = ready.send(Err(DeviceError::Camera(e)));
            return;
        }
    };
    let format = camera.camera_format();
    let (w, h) = (format.width() & !1, format.height() & !1);
    let _ = ready.send(Ok((w, h, format.frame_rate())));
    let mut rgba = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Zoom(factor, reply) => {
                    let _ = reply.send(apply_zoom(&mut camera, factor));
                }
            }
        }
        let buffer = match camera.frame() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("camera frame failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let capture_time_us = unix_time_us();
        let res = buffer.resolution();
        rgba.resize(res.width() as usize * res.height() as usize * 4, 0);
        if let Err(e) = buffer.decode_image_to_buffer::<RgbAFormat>(&mut rgba) {
            tracing::warn!("camera frame could not be decoded: {e}");
            continue;
        }
        let Some(frame) = rgba_to_even_frame(&rgba, res.width(), res.height(), capture_time_us)
        else {
            continue;
        };
        if frames.send(frame).is_err() {
            break;
        }
    }
    let _ = camera.stop_stream();
}

/// Converts RGBA to I420, cropping a trailing odd row or column.
fn rgba_to_even_frame(rgba: &[u8], width: u32, height: u32, t: u64) -> Option<VideoFrame> {
    let (w, h) = (width & !1, height & !1);
    let mut frame = if w == width && h == height {
        VideoFrame::from_rgba(w, h, rgba).ok()?
    } else {
        let mut cropped = Vec::with_capacity(w as usize * h as usize * 4);
        for row in rgba.chunks_exact(width as usize * 4).take(h as usize) {
            cropped.extend_from_slice(&row[..w as usize * 4]);
        }
        VideoFrame::from_rgba(w, h, &cropped).ok()?
    };
    frame.capture_time_us = t;
    Some(frame)
}

fn apply_zoom(camera: &mut nokhwa::Camera, factor: f64) -> Result<(), DeviceError> {
    let control = camera
        .camera_control(KnownCameraControl::Zoom)
        .map_err(|_| DeviceError::ZoomUnsupported)?;
    let value = match *control.description() {
        ControlValueDescription::IntegerRange { min, max, .. } => {
            let v = if min > 0 {
                (min as f64 * factor).round() as i64
            } else {
                min + ((factor - 1.0) / 3.0 * (max - min) as f64).round() as i64
            };
            ControlValueSetter::Integer(v.clamp(min, max))
        }
        ControlValueDescription::FloatRange { min, max, .. } => {
            let v = if min > 0.0 {
                min * factor
            } else {
                min + (factor - 1.0) / 3.0 * (max - min)
            };
            ControlValueSetter::Float(v.clamp(min, max))
        }
        _ => return Err(DeviceError::ZoomUnsupported),
    };
    camera
        .set_camera_control(KnownCameraControl::Zoom, value)
        .map_err(DeviceError::Zoom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    #[test]
    fn no_camera_is_a_clear_error() {
        // This machine has no camera; with one plugged in, the test still
        // checks that an unknown id is reported as such.
        if list_cameras().is_empty() {
            let err = Camera::open(None, 640, 360, 30).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoCamera);
            let err = Camera::open(Some("7"), 640, 360, 30).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoCamera);
        } else {
            let err = Camera::open(Some("no-such-camera"), 640, 360, 30).unwrap_err();
            assert_eq!(err.code(), ErrorCode::DeviceNotFound);
        }
    }

    #[test]
    fn odd_camera_sizes_are_cropped_to_even() {
        let rgba = vec![255u8; 5 * 3 * 4];
        let f = rgba_to_even_frame(&rgba, 5, 3, 9).unwrap();
        assert_eq!((f.width, f.height, f.capture_time_us), (4, 2, 9));
        assert!(f.y().iter().all(|&y| y == 235));
    }
}
