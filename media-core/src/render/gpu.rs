//! `GpuRenderer`: I420 planes -> three `R8` textures -> RGB in a WGSL shader,
//! into a window surface or an offscreen texture.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raw_window_handle::{DisplayHandle, HandleError, HasDisplayHandle};

use super::canvas::WindowOwner;
use super::layout::uv_scale;
use super::{I420Planes, RawWindowTarget, RenderError, ViewMode};

/// What a renderer has done so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RendererStats {
    /// Frames drawn (presented to the window, or rendered offscreen).
    pub frames_rendered: u64,
    /// Frames pushed to a [`RendererHandle`](super::RendererHandle) that a
    /// newer frame replaced before they were drawn, or that arrived while the
    /// renderer was hidden.
    pub frames_dropped: u64,
    /// Average time to upload the planes, record the draw and submit it
    /// (CPU side; the GPU works on after submit).
    pub avg_submit_time: Duration,
    /// How often the surface was reconfigured or recreated (resize,
    /// outdated, lost).
    pub surface_reconfigurations: u64,
    /// Draws that failed (logged; the renderer carries on with the next frame).
    pub errors: u64,
    /// The GPU adapter's name and backend, e.g.
    /// `llvmpipe (LLVM 15.0.6, 256 bits) (vulkan)`.
    pub adapter: String,
}

/// Draws I420 frames with wgpu, into a native window or offscreen.
///
/// Textures are re-created only when the frame size changes; each frame is
/// three `queue.write_texture` calls and one full-screen draw. All calls
/// block the calling thread until the work is submitted (and, for
/// [`GpuRenderer::render_to_rgba`], read back): use a
/// [`RendererHandle`](super::RendererHandle) to render on a thread of its own.
pub struct GpuRenderer {
    // Kept for recreating a lost surface.
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    shader: wgpu::ShaderModule,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    sampler: wgpu::Sampler,
    params: wgpu::Buffer,
    pipelines: Vec<(wgpu::TextureFormat, wgpu::RenderPipeline)>,
    planes: Option<PlaneTextures>,
    window: Option<WindowSurface>,
    offscreen: Option<OffscreenTarget>,
    stats: RendererStats,
    submit_total: Duration,
    submits: u32,
}

impl fmt::Debug for GpuRenderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuRenderer")
            .field("adapter", &self.stats.adapter)
            .field("window", &self.window.as_ref().map(|w| &w.target))
            .finish_non_exhaustive()
    }
}

impl GpuRenderer {
    /// A renderer without a window, for [`GpuRenderer::render_to_rgba`].
    /// Prefers a low-power adapter and falls back to any (a software one
    /// such as llvmpipe counts).
    pub fn offscreen() -> Result<Self, RenderError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(pick_adapter(&instance, None))?;
        Self::with_adapter(instance, adapter, None)
    }

    /// A renderer drawing into `target`'s window, configured to the size the
    /// target was created with. The wgpu instance is built with the window's
    /// display handle.
    pub fn for_window(target: &RawWindowTarget) -> Result<Self, RenderError> {
        let display = Box::new(DisplayOf(Arc::clone(&target.owner)));
        let instance = wgpu::Instance::new(
            wgpu::InstanceDescriptor::new_without_display_handle_from_env()
                .with_display_handle(display),
        );
        let surface = create_surface(&instance, target)?;
        let adapter = pollster::block_on(pick_adapter(&instance, Some(&surface)))?;
        let (width, height) = target.size();
        let window = WindowSurface {
            target: target.clone(),
            surface,
            config: None,
            size: (width, height),
        };
        Self::with_adapter(instance, adapter, Some(window))
    }

    /// Sets the window surface's size in physical pixels (call it when the
    /// window is resized). A zero size pauses drawing until the next resize.
    pub fn resize(&mut self, width: u32, height: u32) {
        if let Some(window) = &mut self.window {
            if window.size != (width, height) {
                window.size = (width, height);
                window.config = None;
            }
        }
    }

    /// Draws `frame` into the window and presents it. Returns `Ok(false)`
    /// when nothing could be shown right now (zero-sized or occluded window,
    /// acquire timeout), `Ok(true)` when the frame was presented.
    pub fn draw(
        &mut self,
        frame: &I420Planes<'_>,
        mode: ViewMode,
        mirror: bool,
    ) -> Result<bool, RenderError> {
        let started = Instant::now();
        let Some(mut window) = self.window.take() else {
            return Err(RenderError::SurfaceCreation(
                "this renderer was created without a window".into(),
            ));
        };
        let result = self
            .upload(frame)
            .and_then(|()| self.draw_to_window(&mut window, frame, mode, mirror, started));
        self.window = Some(window);
        if result.is_err() {
            self.stats.errors += 1;
        }
        result
    }

    /// Renders `frame` into an `out_width` x `out_height` texture and reads it
    /// back: RGBA, 4 bytes per pixel, rows top to bottom, no padding.
    pub fn render_to_rgba(
        &mut self,
        frame: &I420Planes<'_>,
        out_width: u32,
        out_height: u32,
        mode: ViewMode,
        mirror: bool,
    ) -> Result<Vec<u8>, RenderError> {
        let started = Instant::now();
        self.check_size(out_width, out_height)?;
        if out_width == 0 || out_height == 0 {
            return Err(RenderError::InvalidFrame(format!(
                "output size {out_width}x{out_height} is empty"
            )));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.upload(frame)?;
        let format = wgpu::TextureFormat::Rgba8Unorm;
        let target = self.offscreen_target(out_width, out_height);
        let view = target
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self.encode_draw(
            "confer offscreen",
            &view,
            format,
            (out_width, out_height),
            frame,
            mode,
            mirror,
        );
        let target = self
            .offscreen
            .as_ref()
            .expect("offscreen_target just created the target");
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &target.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(target.padded_row),
                    rows_per_image: Some(out_height),
                },
            },
            extent(out_width, out_height),
        );
        self.queue.submit([encoder.finish()]);
        self.note_submit(started);
        if let Some(error) = pollster::block_on(scope.pop()) {
            self.stats.errors += 1;
            return Err(RenderError::Validation(error));
        }
        let target = self
            .offscreen
            .as_ref()
            .expect("offscreen_target created the target");
        let rgba = read_back(&self.device, target, out_width, out_height)?;
        self.stats.frames_rendered += 1;
        Ok(rgba)
    }

    /// What this renderer has done so far.
    pub fn stats(&self) -> RendererStats {
        self.stats.clone()
    }

    fn with_adapter(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        window: Option<WindowSurface>,
    ) -> Result<Self, RenderError> {
        let info = adapter.get_info();
        tracing::debug!(adapter = %info.name, backend = ?info.backend, "render adapter");
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("confer renderer"),
            required_limits:
                wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(RenderError::DeviceCreation)?;
        // The default handler panics; a bad draw must not take the app down.
        device.on_uncaptured_error(Arc::new(|error| {
            tracing::error!(%error, "uncaptured GPU error");
        }));
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("confer i420"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
        });
        let plane_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("confer i420"),
            entries: &[
                plane_entry(0),
                plane_entry(1),
                plane_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("confer i420"),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("confer i420"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("confer i420 params"),
            size: PARAMS_SIZE,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuRenderer {
            instance,
            adapter,
            device,
            queue,
            shader,
            bind_layout,
            pipeline_layout,
            sampler,
            params,
            pipelines: Vec::new(),
            planes: None,
            window,
            offscreen: None,
            stats: RendererStats {
                adapter: format!("{} ({})", info.name, info.backend),
                ..Default::default()
            },
            submit_total: Duration::ZERO,
            submits: 0,
        })
    }

    fn draw_to_window(
        &mut self,
        window: &mut WindowSurface,
        frame: &I420Planes<'_>,
        mode: ViewMode,
        mirror: bool,
        started: Instant,
    ) -> Result<bool, RenderError> {
        let (width, height) = window.size;
        if width == 0 || height == 0 {
            return Ok(false);
        }
        let mut attempts = 0;
        let texture = loop {
            attempts += 1;
            if window.config.is_none() {
                self.configure(window)?;
            }
            match window.surface.get_current_texture() {
                wgpu::CurrentSurfaceTexture::Success(texture) => break texture,
                wgpu::CurrentSurfaceTexture::Suboptimal(texture) => {
                    // Draw this one; reconfigure before the next.
                    window.config = None;
                    break texture;
                }
                wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                    return Ok(false)
                }
                wgpu::CurrentSurfaceTexture::Outdated if attempts < 3 => window.config = None,
                wgpu::CurrentSurfaceTexture::Lost if attempts < 3 => {
                    tracing::debug!("render surface lost; recreating it");
                    window.surface = create_surface(&self.instance, &window.target)?;
                    window.config = None;
                }
                other => {
                    return Err(RenderError::Gpu(format!(
                        "could not acquire a surface texture: {}",
                        surface_status_name(&other)
                    )))
                }
            }
        };
        let format = window
            .config
            .as_ref()
            .map(|c| c.format)
            .unwrap_or(texture.texture.format());
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let encoder = self.encode_draw(
            "confer window",
            &view,
            format,
            (width, height),
            frame,
            mode,
            mirror,
        );
        self.queue.submit([encoder.finish()]);
        self.note_submit(started);
        self.queue.present(texture);
        self.stats.frames_rendered += 1;
        Ok(true)
    }

    fn configure(&mut self, window: &mut WindowSurface) -> Result<(), RenderError> {
        let (width, height) = window.size;
        self.check_size(width, height)?;
        let caps = window.surface.get_capabilities(&self.adapter);
        // Video is already gamma-encoded: prefer a format that stores the
        // shader's output as is.
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or_else(|| {
                RenderError::SurfaceCreation("the adapter cannot present to this window".into())
            })?;
        let present_mode = if caps.present_modes.contains(&wgpu::PresentMode::Mailbox) {
            wgpu::PresentMode::Mailbox
        } else {
            wgpu::PresentMode::Fifo
        };
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            caps.alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto)
        };
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: Default::default(),
            width,
            height,
            desired_maximum_frame_latency: 2,
            present_mode,
            alpha_mode,
            view_formats: vec![],
        };
        window.surface.configure(&self.device, &config);
        tracing::debug!(
            ?format,
            ?present_mode,
            width,
            height,
            "render surface configured"
        );
        window.config = Some(config);
        self.stats.surface_reconfigurations += 1;
        Ok(())
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), RenderError> {
        let limit = self.device.limits().max_texture_dimension_2d;
        if width > limit || height > limit {
            return Err(RenderError::TooLarge {
                width,
                height,
                limit,
            });
        }
        Ok(())
    }

    /// Writes the three planes, re-creating the textures if the size changed.
    fn upload(&mut self, frame: &I420Planes<'_>) -> Result<(), RenderError> {
        frame.validate()?;
        self.check_size(frame.width, frame.height)?;
        let size = (frame.width, frame.height);
        if self.planes.as_ref().map(|p| p.size) != Some(size) {
            self.planes = Some(self.create_planes(size));
        }
        let planes = self
            .planes
            .as_ref()
            .expect("plane textures were just created");
        let chroma = (frame.chroma_width(), frame.chroma_height());
        for (texture, data, stride, (w, h)) in [
            (&planes.y, frame.y, frame.y_stride, size),
            (&planes.u, frame.u, frame.uv_stride, chroma),
            (&planes.v, frame.v, frame.uv_stride, chroma),
        ] {
            let stride = u32::try_from(stride)
                .map_err(|_| RenderError::InvalidFrame(format!("stride {stride} is too large")))?;
            self.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(stride),
                    rows_per_image: Some(h),
                },
                extent(w, h),
            );
        }
        Ok(())
    }

    fn create_planes(&self, (width, height): (u32, u32)) -> PlaneTextures {
        let texture = |label, w, h| {
            self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: extent(w, h),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let y = texture("confer plane y", width, height);
        let u = texture("confer plane u", cw, ch);
        let v = texture("confer plane v", cw, ch);
        let view = |t: &wgpu::Texture| t.create_view(&wgpu::TextureViewDescriptor::default());
        let (yv, uv, vv) = (view(&y), view(&u), view(&v));
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("confer i420"),
            layout: &self.bind_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&yv),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&uv),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&vv),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: self.params.as_entire_binding(),
                },
            ],
        });
        PlaneTextures {
            size: (width, height),
            y,
            u,
            v,
            bind_group,
        }
    }

    /// A command encoder named `label` that draws the uploaded `frame` into
    /// `view` (`out` pixels of `format`).
    #[allow(clippy::too_many_arguments)]
    fn encode_draw(
        &mut self,
        label: &str,
        view: &wgpu::TextureView,
        format: wgpu::TextureFormat,
        out: (u32, u32),
        frame: &I420Planes<'_>,
        mode: ViewMode,
        mirror: bool,
    ) -> wgpu::CommandEncoder {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        let [sx, sy] = uv_scale(mode, (frame.width, frame.height), out);
        let values = [
            sx,
            sy,
            out.0 as f32,
            out.1 as f32,
            if mirror { 1.0 } else { 0.0 },
            if format.is_srgb() { 1.0 } else { 0.0 },
            0.0,
            0.0,
        ];
        let mut bytes = [0u8; PARAMS_SIZE as usize];
        for (chunk, value) in bytes.chunks_exact_mut(4).zip(values) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        self.queue.write_buffer(&self.params, 0, &bytes);
        let pipeline = self.pipeline(format).clone();
        let planes = self
            .planes
            .as_ref()
            .expect("upload() runs before encode_draw()");
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("confer i420"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &planes.bind_group, &[]);
        pass.draw(0..3, 0..1);
        drop(pass);
        encoder
    }

    fn pipeline(&mut self, format: wgpu::TextureFormat) -> &wgpu::RenderPipeline {
        if let Some(i) = self.pipelines.iter().position(|(f, _)| *f == format) {
            return &self.pipelines[i].1;
        }
        let pipeline = self
            .device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("confer i420"),
                layout: Some(&self.pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &self.shader,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
        self.pipelines.push((format, pipeline));
        &self.pipelines[self.pipelines.len() - 1].1
    }

    fn offscreen_target(&mut self, width: u32, height: u32) -> &OffscreenTarget {
        if self.offscreen.as_ref().map(|t| t.size) != Some((width, height)) {
            let texture = self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("confer offscreen"),
                size: extent(width, height),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let padded_row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
            let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("confer readback"),
                size: u64::from(padded_row) * u64::from(height),
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            self.offscreen = Some(OffscreenTarget {
                size: (width, height),
                texture,
                readback,
                padded_row,
            });
        }
        self.offscreen
            .as_ref()
            .expect("the offscreen target was just created")
    }

    fn note_submit(&mut self, started: Instant) {
        self.submit_total += started.elapsed();
        self.submits = self.submits.saturating_add(1);
        self.stats.avg_submit_time = self.submit_total / self.submits;
    }

    /// Counts frames that were pushed but never drawn.
    pub(crate) fn note_dropped(&mut self, frames: u64) {
        self.stats.frames_dropped += frames;
    }
}

const PARAMS_SIZE: u64 = 32;

struct PlaneTextures {
    size: (u32, u32),
    // The bind group holds views of these; kept for clarity of ownership.
    #[allow(dead_code)]
    y: wgpu::Texture,
    #[allow(dead_code)]
    u: wgpu::Texture,
    #[allow(dead_code)]
    v: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

struct WindowSurface {
    target: RawWindowTarget,
    surface: wgpu::Surface<'static>,
    /// `None` until configured, and again after a resize or an outdated surface.
    config: Option<wgpu::SurfaceConfiguration>,
    size: (u32, u32),
}

struct OffscreenTarget {
    size: (u32, u32),
    texture: wgpu::Texture,
    readback: wgpu::Buffer,
    padded_row: u32,
}

/// The window owner's display handle, as the wgpu instance wants it.
struct DisplayOf(Arc<dyn WindowOwner>);

impl HasDisplayHandle for DisplayOf {
    fn display_handle(&self) -> Result<DisplayHandle<'_>, HandleError> {
        self.0.display_handle()
    }
}

impl fmt::Debug for DisplayOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let display = self.0.display_handle().map(|h| h.as_raw());
        f.debug_tuple("DisplayOf").field(&display).finish()
    }
}

fn create_surface(
    instance: &wgpu::Instance,
    target: &RawWindowTarget,
) -> Result<wgpu::Surface<'static>, RenderError> {
    instance
        .create_surface(wgpu::SurfaceTarget::DisplayAndWindow(Box::new(Arc::clone(
            &target.owner,
        ))))
        .map_err(RenderError::Surface)
}

/// A low-power adapter if there is one, else any adapter (that can present
/// to `surface`, when given).
async fn pick_adapter(
    instance: &wgpu::Instance,
    surface: Option<&wgpu::Surface<'static>>,
) -> Result<wgpu::Adapter, RenderError> {
    let preferred = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::LowPower,
            force_fallback_adapter: false,
            compatible_surface: surface,
            apply_limit_buckets: false,
        })
        .await;
    match preferred {
        Ok(adapter) => return Ok(adapter),
        Err(error) => tracing::debug!(%error, "no low-power adapter; trying every adapter"),
    }
    instance
        .enumerate_adapters(wgpu::Backends::all())
        .await
        .into_iter()
        .find(|adapter| surface.is_none_or(|s| adapter.is_surface_supported(s)))
        .ok_or(RenderError::NoAdapter)
}

fn read_back(
    device: &wgpu::Device,
    target: &OffscreenTarget,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, RenderError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let slice = target.readback.slice(..);
    slice.map_async(wgpu::MapMode::Read, move |result| {
        // The receiver waits below; a send error only means it gave up.
        let _ = tx.send(result);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RenderError::ReadBack(e.into()))?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RenderError::ReadBack(e.into())),
        Err(_) => return Err(RenderError::Gpu("the read-back was never mapped".into())),
    }
    let row = width as usize * 4;
    let mut rgba = Vec::with_capacity(row * height as usize);
    {
        let mapped = slice
            .get_mapped_range()
            .map_err(|e| RenderError::ReadBack(e.into()))?;
        for line in mapped
            .chunks(target.padded_row as usize)
            .take(height as usize)
        {
            rgba.extend_from_slice(&line[..row]);
        }
    }
    target.readback.unmap();
    Ok(rgba)
}

fn extent(width: u32, height: u32) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width,
        height,
        depth_or_array_layers: 1,
    }
}

fn surface_status_name(status: &wgpu::CurrentSurfaceTexture) -> &'static str {
    match status {
        wgpu::CurrentSurfaceTexture::Success(_) => "success",
        wgpu::CurrentSurfaceTexture::Suboptimal(_) => "suboptimal",
        wgpu::CurrentSurfaceTexture::Timeout => "timeout",
        wgpu::CurrentSurfaceTexture::Occluded => "occluded",
        wgpu::CurrentSurfaceTexture::Outdated => "outdated",
        wgpu::CurrentSurfaceTexture::Lost => "lost",
        wgpu::CurrentSurfaceTexture::Validation => "validation error",
    }
}
