//! Errors from creating renderers and drawing frames.

use protocol::ErrorCode;

/// Errors from the rendering layer. Each variant maps to one [`ErrorCode`]
/// through [`RenderError::code`]; wgpu's (and the OS's) own errors are kept
/// as the source.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No GPU adapter (not even a software one such as llvmpipe/lavapipe)
    /// can render here, or none can present to the given window.
    #[error(
        "no GPU adapter available for rendering (is a Vulkan or GL driver such as mesa installed?)"
    )]
    NoAdapter,
    /// The adapter refused to create a device.
    #[error("the GPU adapter could not create a device: {0}")]
    DeviceCreation(#[source] wgpu::RequestDeviceError),
    /// A surface could not be created on the window, or the surface and the
    /// adapter cannot work together.
    #[error("could not create a rendering surface on the window: {0}")]
    SurfaceCreation(String),
    /// wgpu could not create a surface on the window.
    #[error("could not create a rendering surface on the window: {0}")]
    Surface(#[source] wgpu::CreateSurfaceError),
    /// The frame's planes are shorter than its size and strides say, or its
    /// size is zero.
    #[error("the I420 frame does not match its size and strides: {0}")]
    InvalidFrame(String),
    /// The frame or the output is larger than the GPU's texture limit.
    #[error("{width}x{height} exceeds the GPU's texture size limit of {limit}")]
    TooLarge {
        /// The requested width in pixels.
        width: u32,
        /// The requested height in pixels.
        height: u32,
        /// The largest texture side the device supports.
        limit: u32,
    },
    /// The GPU reported an error while drawing or reading back.
    #[error("GPU error while rendering: {0}")]
    Gpu(String),
    /// The GPU reported a validation or out-of-memory error while drawing.
    #[error("GPU error while rendering: {0}")]
    Validation(#[source] wgpu::Error),
    /// Reading a frame back from the GPU failed: waiting for the GPU
    /// (`wgpu::PollError`), mapping the buffer (`wgpu::BufferAsyncError`) or
    /// reading the mapped range (`wgpu::MapRangeError`).
    #[error("GPU error while rendering: {0}")]
    ReadBack(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The render thread could not be started.
    #[error("GPU error while rendering: could not start the render thread: {0}")]
    RenderThread(#[source] std::io::Error),
    /// The renderer was closed (or its render thread ended).
    #[error("the renderer has been closed")]
    Closed,
}

impl RenderError {
    /// The error code of this error.
    ///
    /// The protocol has no rendering codes yet: GPU and surface failures map
    /// to [`ErrorCode::Internal`], bad frames to [`ErrorCode::InvalidFrame`].
    pub fn code(&self) -> ErrorCode {
        match self {
            RenderError::InvalidFrame(_) | RenderError::TooLarge { .. } => ErrorCode::InvalidFrame,
            RenderError::NoAdapter
            | RenderError::DeviceCreation(_)
            | RenderError::SurfaceCreation(_)
            | RenderError::Surface(_)
            | RenderError::Gpu(_)
            | RenderError::Validation(_)
            | RenderError::ReadBack(_)
            | RenderError::RenderThread(_)
            | RenderError::Closed => ErrorCode::Internal,
        }
    }
}
