//! A headless PipeWire for the test: `pipewire` and `wireplumber` (its
//! session manager, which links a capture stream to its target node) on a
//! runtime directory of their own, and a video source node on it that
//! sends a two-colour BGRx picture, as a compositor's screen-cast stream
//! does.

use pipewire as pw;
use pw::spa;
use spa::pod::{Pod, Property, PropertyFlags, Value};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A PipeWire daemon and its session manager, stopped on drop.
pub(crate) struct PipeWireDaemon {
    runtime: PathBuf,
    children: Vec<Child>,
}

impl PipeWireDaemon {
    /// Starts both on the session bus at `bus` (wireplumber needs one);
    /// `None` (after [`test_support::skip`]) when either is not installed.
    pub(crate) fn start(test: &str, bus: &str) -> Option<PipeWireDaemon> {
        let runtime =
            std::env::temp_dir().join(format!("confer-pipewire-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&runtime).expect("runtime directory");
        let mut daemon = PipeWireDaemon {
            runtime,
            children: Vec::new(),
        };
        for program in ["pipewire", "wireplumber"] {
            let spawned = Command::new(program)
                .env("XDG_RUNTIME_DIR", &daemon.runtime)
                .env("DBUS_SESSION_BUS_ADDRESS", bus)
                .env_remove("PIPEWIRE_REMOTE")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned {
                Ok(child) => daemon.children.push(child),
                Err(e) => {
                    test_support::skip(
                        test,
                        &format!("no {program} ({e}): apt install pipewire wireplumber"),
                    );
                    return None;
                }
            }
            if program == "pipewire" {
                let deadline = Instant::now() + Duration::from_secs(10);
                while UnixStream::connect(daemon.socket()).is_err() {
                    assert!(
                        Instant::now() < deadline,
                        "pipewire did not open its socket"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Some(daemon)
    }

    /// The daemon's socket.
    pub(crate) fn socket(&self) -> PathBuf {
        self.runtime.join("pipewire-0")
    }
}

impl Drop for PipeWireDaemon {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

/// A `Video/Source` node sending `width` x `height` BGRx pictures, the left
/// half `left`, the right half `right` (B, G, R bytes), about 30 a second.
pub(crate) struct VideoSource {
    /// Its node id.
    pub(crate) node_id: u32,
    quit: pw::channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl VideoSource {
    /// Connects to the daemon's `socket` and waits for the node to exist.
    pub(crate) fn start(
        socket: &Path,
        width: u32,
        height: u32,
        left: [u8; 3],
        right: [u8; 3],
    ) -> VideoSource {
        let remote = UnixStream::connect(socket).expect("pipewire socket");
        let (quit, quit_rx) = pw::channel::channel::<()>();
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            run_source(remote, width, height, [left, right], node_tx, quit_rx)
        });
        let node_id = node_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the source node appears");
        VideoSource {
            node_id,
            quit,
            thread: Some(thread),
        }
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        let _ = self.quit.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_source(
    remote: UnixStream,
    width: u32,
    height: u32,
    colors: [[u8; 3]; 2],
    node_tx: std::sync::mpsc::Sender<u32>,
    quit: pw::channel::Receiver<()>,
) {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).expect("main loop");
    let context = pw::context::ContextRc::new(&mainloop, None).expect("context");
    let core = context
        .connect_fd_rc(remote.into(), None)
        .expect("connect to pipewire");
    let stream = pw::stream::StreamRc::new(
        core,
        "confer-test-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Source",
            *pw::keys::MEDIA_ROLE => "Screen",
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::NODE_NAME => "confer-test-screen",
        },
    )
    .expect("stream");
    let stride = width * 4;
    let _listener = stream
        .add_local_listener_with_user_data(node_tx)
        .state_changed(|stream, node_tx, _old, new| {
            if matches!(new, pw::stream::StreamState::Paused) {
                let _ = node_tx.send(stream.node_id());
            }
        })
        .param_changed(move |stream, _, id, param| {
            if id == spa::param::ParamType::Format.as_raw() && param.is_some() {
                let buffers = buffers_param(stride * height, stride);
                let pod = Pod::from_bytes(&buffers).expect("buffers pod");
                stream.update_params(&mut [pod]).expect("buffers param");
            }
        })
        .register()
        .expect("listener");
    let format = format_param(width, height);
    let mut params = [Pod::from_bytes(&format).expect("format pod")];
    stream
        .connect(
            spa::utils::Direction::Output,
            None,
            pw::stream::StreamFlags::DRIVER | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )
        .expect("connect the source");
    let timer_stream = stream.clone();
    let timer = mainloop.loop_().add_timer(move |_| {
        let Some(mut buffer) = timer_stream.dequeue_buffer() else {
            return;
        };
        let Some(data) = buffer.datas_mut().first_mut() else {
            return;
        };
        if let Some(bytes) = data.data() {
            let (w, s) = (width as usize, stride as usize);
            for row in bytes.chunks_exact_mut(s).take(height as usize) {
                for (x, px) in row.chunks_exact_mut(4).take(w).enumerate() {
                    let [b, g, r] = colors[usize::from(x >= w / 2)];
                    px.copy_from_slice(&[b, g, r, 255]);
                }
            }
        }
        let chunk = data.chunk_mut();
        *chunk.offset_mut() = 0;
        *chunk.size_mut() = stride * height;
        *chunk.stride_mut() = stride as i32;
    });
    let period = Duration::from_millis(33);
    timer
        .update_timer(Some(period), Some(period))
        .into_result()
        .expect("timer");
    let weak = mainloop.downgrade();
    let _quit = quit.attach(mainloop.loop_(), move |()| {
        if let Some(mainloop) = weak.upgrade() {
            mainloop.quit();
        }
    });
    mainloop.run();
}

fn serialize(object: spa::pod::Object) -> Vec<u8> {
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &Value::Object(object),
    )
    .expect("pod")
    .0
    .into_inner()
}

/// The source's one format: BGRx at its size, 30 fps.
fn format_param(width: u32, height: u32) -> Vec<u8> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    serialize(spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Id,
            spa::param::video::VideoFormat::BGRx
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Rectangle,
            spa::utils::Rectangle { width, height }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Fraction,
            spa::utils::Fraction { num: 30, denom: 1 }
        ),
    ))
}

/// Buffers of one block of `size` bytes in shared memory.
fn buffers_param(size: u32, stride: u32) -> Vec<u8> {
    let int = |key: u32, value: u32| Property {
        key,
        flags: PropertyFlags::empty(),
        value: Value::Int(value as i32),
    };
    let data_types = (1 << spa::sys::SPA_DATA_MemPtr) | (1 << spa::sys::SPA_DATA_MemFd);
    serialize(spa::pod::Object {
        type_: spa::utils::SpaTypes::ObjectParamBuffers.as_raw(),
        id: spa::param::ParamType::Buffers.as_raw(),
        properties: vec![
            int(spa::sys::SPA_PARAM_BUFFERS_buffers, 4),
            int(spa::sys::SPA_PARAM_BUFFERS_blocks, 1),
            int(spa::sys::SPA_PARAM_BUFFERS_size, size),
            int(spa::sys::SPA_PARAM_BUFFERS_stride, stride),
            int(spa::sys::SPA_PARAM_BUFFERS_dataType, data_types),
        ],
    })
}
