//! The desktop app end to end, under Xvfb: tauri-driver + WebKitWebDriver
//! drive the real app window; a headless `confer call` joins the call the
//! app hosts. The remote tile's native video surface is checked in an X
//! screenshot by reading the participant's frame-number barcode inside the
//! tile's rectangle, before and after a window resize. Screen sharing: an X
//! window is shared from the app's picker (the app's own window is not
//! offered), the app shows the presenter layout and the sharing bar and the
//! participant receives the share; Stop, and the shared window closing, end
//! it; a second participant's shared screen takes the stage and is asked
//! for at its high layer, also as a strip thumbnail, until it leaves. Mute,
//! camera off and leave are checked on the participant's side.
//! Screenshots (the share in the light and the dark theme too) are kept in
//! the artifacts directory.

use confer_app_driver::app::{self, RunningApp};
use confer_app_driver::participant::Participant;
use confer_app_driver::screen::{self, Rect};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use test_support::xvfb::TestWindow;

/// `confer call --preset 360p` publishes 640x360.
const VIDEO_W: u32 = 640;
const VIDEO_H: u32 = 360;
const LONG: Duration = Duration::from_secs(40);

/// The screen rectangle of the video area of the tile matching `tile_css`.
fn tile_rect(app: &RunningApp, tile_css: &str) -> Rect {
    let v = app.ui().exec(
        "const el = document.querySelector(arguments[0] + ' .tile-video');
         if (!el) return null;
         const r = el.getBoundingClientRect(), s = window.devicePixelRatio;
         return {x: r.left * s, y: r.top * s, w: r.width * s, h: r.height * s};",
        json!([tile_css]),
    );
    assert!(!v.is_null(), "no tile {tile_css}");
    let (ox, oy) = screen::window_origin("Confer");
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Rect {
        x: ox + num("x").round() as i32,
        y: oy + num("y").round() as i32,
        width: num("w").round() as u32,
        height: num("h").round() as u32,
    }
}

/// Takes screenshots until the barcode inside the tile `tile_css` reads
/// twice with a growing frame number (the surface shows live video there).
/// The tile is measured again for every screenshot: the layout may still
/// settle (a stream arriving, the speaking ring, the self view moving).
/// Returns the tile's rect at the last reading and the two frame numbers.
fn live_frames_in(app: &RunningApp, tile_css: &str, shot: &Path) -> (Rect, u32, u32) {
    let mut first = None;
    let mut rect = tile_rect(app, tile_css);
    // Generous: a loaded machine decodes and draws slowly at first.
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        rect = tile_rect(app, tile_css);
        let picture = rect.fit(f64::from(VIDEO_W) / f64::from(VIDEO_H));
        screen::screenshot(shot);
        if let Some(n) = screen::read_barcode(shot, picture, VIDEO_W, VIDEO_H) {
            match first {
                None => first = Some(n),
                Some(f) if n > f => return (rect, f, n),
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("no live barcode in tile {rect:?}; see {}", shot.display());
}

fn is(event: &Value, name: &str, stream: &str) -> bool {
    event["event"] == name && event["stream_id"] == stream
}

#[test]
fn host_a_call_see_a_participant_and_control_what_they_receive() {
    if let Some(why) = app::skip_reason() {
        test_support::skip("app E2E", why);
        return;
    }
    let artifacts = app::artifacts_dir();
    let mut app = RunningApp::start("host", app::host_settings("alice", "Alice", "dark"), &[]);
    let ui = app.ui();
    ui.wait_for(
        "the home screen",
        LONG,
        "const h = document.querySelector('[data-screen=\"home\"]');
         return !!h && !h.hidden && !!document.querySelector('#host-call');",
    );
    // The DOM exists before the window's first paint: give it a moment
    // (this screenshot is an artifact, not an assertion).
    std::thread::sleep(Duration::from_secs(2));
    screen::screenshot(&artifacts.join("app-home.png"));

    // "Hear yourself": the preview's engine plays the processed microphone
    // back (the toggle lights only when the engine took the command).
    ui.wait_for(
        "Hear yourself enabled (the preview's engine)",
        LONG,
        "const b = document.querySelector('#hear-yourself'); return !!b && !b.disabled;",
    );
    // Laid out and in view before a WebDriver click (the home screen's
    // device grid can start below the fold, and the first paint is late).
    ui.wait_for(
        "Hear yourself laid out in view",
        LONG,
        "const b = document.querySelector('#hear-yourself');
         b.scrollIntoView({ block: 'center' });
         const r = b.getBoundingClientRect();
         return r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;",
    );
    ui.click("#hear-yourself");
    ui.wait_for(
        "hearing yourself",
        LONG,
        "return document.querySelector('#hear-yourself').getAttribute('aria-pressed') === 'true';",
    );
    screen::screenshot(&artifacts.join("app-home-hear-yourself.png"));

    // Host: the call screen shows how to join.
    ui.click("#host-call");
    // Leaving the pre-join screen stops the playback.
    ui.wait_for(
        "the playback stopped on leaving pre-join",
        LONG,
        "return document.querySelector('#hear-yourself').getAttribute('aria-pressed') === 'false';",
    );
    let invite = ui.wait_for(
        "the invite details",
        LONG,
        "const i = document.querySelector('#invite');
         const c = document.querySelector('[data-screen=\"call\"]');
         return i && c && !c.hidden && i.dataset.server ? {...i.dataset} : null;",
    );
    let server = invite["server"].as_str().unwrap_or_default();
    assert!(server.starts_with("ws://127.0.0.1:"), "{invite}");
    let joining = app::invite_args(&invite);
    ui.click("#tab-info");
    let render_path = ui.wait_for(
        "the diagnostics' render path",
        LONG,
        "const d = document.querySelector('#diagnostics [data-render-path]');
         return d && d.dataset.renderPath !== 'unknown' && d.dataset.renderPath;",
    );
    assert_eq!(render_path, "native-x11", "native surfaces under Xvfb");

    // The host checks its call the way a guest's app connects (the real
    // check_reachability command: confer doctor's steps on loopback).
    // WebKit can drop a click on a panel still being laid out: click until
    // the check runs (busy) or has results.
    let taken = "const r = document.querySelector('#reachability');
                 return !!r && (r.getAttribute('aria-busy') === 'true' || !!r.querySelector('.reach-check'));";
    for _ in 0..3 {
        ui.click("#check-reachability");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline && ui.exec(taken, json!([])) != json!(true) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if ui.exec(taken, json!([])) == json!(true) {
            break;
        }
    }
    let checks = ui.wait_for(
        "the reachability results",
        LONG,
        "const l = [...document.querySelectorAll('#reachability .reach-check')];
         return l.length ? l.map(c => [c.dataset.name, c.dataset.ok]) : null;",
    );
    let expected =
        ["dns", "tcp", "websocket", "login", "udp-media"].map(|step| json!([step, "true"]));
    assert_eq!(checks, json!(expected), "every step passes on loopback");

    // A headless participant joins, publishes its test pattern, plays ours.
    let mut args: Vec<&str> = joining.iter().map(String::as_str).collect();
    args.extend([
        "--user",
        "bob",
        "--name",
        "Bob",
        "--notify-users",
        "--publish",
        "bob-main",
        "--play",
        "auto",
        "--preset",
        "360p",
        "--media-ip",
        "127.0.0.1",
    ]);
    let mut bob = Participant::spawn(&app::confer_binary(), &args);
    bob.wait_for("bob logged in", 0, LONG, |e| {
        e["event"] == "RoomStateUpdate" && e["state"] == "Connected"
    });

    // The remote tile appears with Bob's name and shows his live video.
    let name = ui.wait_for(
        "Bob's tile",
        LONG,
        "const t = document.querySelector('.tile[data-user-id=\"bob\"] .tile-name');
         return t && t.textContent.trim();",
    );
    assert!(name.as_str().unwrap_or("").contains("Bob"), "{name}");
    let bob_tile = ".tile[data-user-id=\"bob\"]";
    let (before, f1, f2) = live_frames_in(&app, bob_tile, &artifacts.join("app-call.png"));
    eprintln!("remote tile {before:?}: frames {f1} -> {f2}");

    // Bob's test tone reaches the app's sound level monitor: his tile shows
    // the speaking ring.
    ui.wait_for(
        "Bob's speaking ring",
        LONG,
        "return !!document.querySelector('.tile[data-user-id=\"bob\"][data-speaking]');",
    );

    // Bob receives our stream.
    bob.wait_for("bob plays alice-main", 0, LONG, |e| {
        is(e, "PlayerRecvVideoFirstFrame", "alice-main")
    });

    // Resize the window: the surface follows the tile.
    ui.set_window_size(900, 600);
    ui_rect_changed(&app, bob_tile, before);
    let (after, g1, g2) = live_frames_in(&app, bob_tile, &artifacts.join("app-call-resized.png"));
    eprintln!("after resize {after:?}: frames {g1} -> {g2}");

    // Click Bob's picture: the native surface over it takes no input, so
    // the click reaches the page and pins him (speaker view); again unpins.
    for pinned in [true, false] {
        let r = tile_rect(&app, bob_tile);
        screen::click_at(r.x + r.width as i32 / 2, r.y + r.height as i32 / 2);
        ui.wait_for(
            if pinned {
                "Bob pinned by a click on his video"
            } else {
                "Bob unpinned"
            },
            LONG,
            &format!("return !!document.querySelector('{bob_tile}[data-pinned]') === {pinned};"),
        );
    }
    assert_eq!(
        ui.exec(
            "return document.querySelector('.call').dataset.layout;",
            json!([])
        ),
        "speaker"
    );
    screen::screenshot(&artifacts.join("app-speaker-view.png"));

    // Bob's stats: the simulcast layer his stage tile asked for (the
    // set_play_stream_video_layer command took it) beside what arrives.
    let badge = format!("{bob_tile} .quality-badge");
    ui.click(&badge);
    let rows = ui.wait_for(
        "Bob's stats with the layer asked",
        LONG,
        "const p = document.querySelector('.stats-popover');
         if (!p || p.hidden) return null;
         const rows = Object.fromEntries([...p.querySelectorAll('dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]));
         return rows['Layer asked'] && rows['Layer asked'] !== '–' && rows['Resolution'] !== '–' ? rows : null;",
    );
    eprintln!("Bob's stats: {rows}");
    std::thread::sleep(Duration::from_millis(300));
    screen::screenshot(&artifacts.join("app-stats.png"));
    ui.click(&badge);

    // The microphone menu: noise suppression to AI, echo cancellation off
    // with headphones. The engine takes both (the audio_processing command
    // reads the SDK's processing config) and the settings file keeps them.
    change_audio_processing_from_the_mic_menu(&app, &artifacts);

    // Share a window: presenter layout, sharing bar, Bob receives it; Stop.
    share_a_window(&app, &mut bob, &artifacts);
    // Carol shares her screen: it takes the stage, asks for the high layer.
    see_a_remote_share(&app, &joining, &artifacts);

    // Mute the microphone: Bob is told.
    let mark = bob.seen.len();
    ui.click("#toggle-mic");
    bob.wait_for("alice's mic muted", mark, LONG, |e| {
        is(e, "RemoteMicStateUpdate", "alice-main") && e["state"] == "Mute"
    });
    // Camera off: Bob is told and stops receiving video.
    let mark = bob.seen.len();
    ui.click("#toggle-camera");
    bob.wait_for("alice's camera off", mark, LONG, |e| {
        is(e, "RemoteCameraStateUpdate", "alice-main") && e["state"] == "Mute"
    });
    bob.wait_for("no more video from alice", mark, LONG, |e| {
        is(e, "PlayerQualityUpdate", "alice-main") && e["quality"]["video_recv_fps"] == 0.0
    });
    screen::screenshot(&artifacts.join("app-muted.png"));

    // Leave (the host ends the call after confirming): Bob sees Alice go.
    let mark = bob.seen.len();
    app.ui().click("#leave");
    app.ui().wait_for(
        "the leave dialog",
        LONG,
        "const b = document.querySelector('#confirm-leave');
         return !!b && b.offsetParent !== null;",
    );
    app.ui().click("#confirm-leave");
    bob.wait_for("alice left", mark, LONG, |e| {
        e["event"] == "RoomUserUpdate"
            && e["update_type"] == "Delete"
            && e["users"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u["user_id"] == "alice"))
    });
    app.ui().wait_for(
        "back home",
        LONG,
        "const h = document.querySelector('[data-screen=\"home\"]'); return !!h && !h.hidden;",
    );
    app.close();
}

/// Chooses AI noise suppression and echo cancellation "not with
/// headphones" in the call's microphone menu (a screenshot of the open menu
/// is kept), then waits until the engine reports both and the settings
/// file holds them.
fn change_audio_processing_from_the_mic_menu(app: &RunningApp, artifacts: &Path) {
    let ui = app.ui();
    let option = |list: &str, value: &str| {
        format!("[role=\"listbox\"][aria-label=\"{list}\"] [data-value=\"{value}\"]")
    };
    let ai = option("Noise suppression", "ai");
    let speakers_only = option("Echo cancellation", "speakers_only");
    ui.click("#mic-menu");
    ui.wait_for(
        "the microphone menu",
        LONG,
        &format!(
            "const b = document.querySelector('{ai}'); return !!b && b.offsetParent !== null;"
        ),
    );
    // The menu's rect (it hides the video surfaces it overlaps), then a
    // screenshot once WebKit has painted it.
    let menu = ui.exec(
        "const r = document.querySelector('.device-menu.audio').getBoundingClientRect();
         return [r.left, r.top, r.width, r.height].map(Math.round);",
        json!([]),
    );
    eprintln!("the microphone menu at {menu}");
    std::thread::sleep(Duration::from_secs(1));
    screen::screenshot(&artifacts.join("app-mic-menu.png"));
    ui.click(&ai);
    ui.click(&speakers_only);
    // Asks the app until the engine's state has both (each answer is read once).
    let state = ui.wait_for(
        "the engine's audio processing",
        LONG,
        "if (window.__processing === undefined) {
           window.__processing = null;
           window.__TAURI__.core.invoke('audio_processing').then(s => (window.__processing = s), e => (window.__processing = { error: e }));
         }
         const s = window.__processing;
         if (s === null) return null;
         window.__processing = undefined;
         return s.noise_suppression === 'ai' && s.echo_cancellation === 'speakers_only' ? s : null;",
    );
    eprintln!("the engine's audio processing: {state}");
    let selected = ui.exec(
        "return [...arguments].map(css => document.querySelector(css).getAttribute('aria-selected'));",
        json!([ai, speakers_only]),
    );
    assert_eq!(
        selected,
        json!(["true", "true"]),
        "the menu shows the choice"
    );
    ui.click("#mic-menu");
    let file = app.config_home.join("confer/app-settings.json");
    let deadline = Instant::now() + LONG;
    loop {
        let saved: Value = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        if saved["noise_suppression"] == "ai" && saved["echo_cancellation"] == "speakers_only" {
            break;
        }
        assert!(Instant::now() < deadline, "settings not saved: {saved}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The title of the window the app shares.
const SHARED_TITLE: &str = "Shared notes";

/// Shares an X window from the app twice: stopped with the sharing bar's
/// Stop (light theme, then dark), then ended by the window closing.
fn share_a_window(app: &RunningApp, bob: &mut Participant, artifacts: &Path) {
    let display = std::env::var("DISPLAY").expect("the app E2E runs under X");
    // Beside the app's 900x600 window on the 1280x800 screen, so it hides nothing.
    let window = TestWindow::open(&display, 920, 620, 320, 160, SHARED_TITLE);
    let stripes: Vec<u8> = (0..160u32 * 320)
        .flat_map(|i| {
            let band = (i % 320) / 40 + (i / 320) / 40;
            if band % 2 == 0 {
                [0xf0, 0x90, 0x30, 0]
            } else {
                [0x20, 0x20, 0x20, 0]
            }
        })
        .collect();
    window.show_bgrx(&stripes);

    // The side panel closed: the stage gets the window's width.
    app.ui().exec(
        "const p = document.querySelector('#side-panel');
         if (p && !p.hidden) document.querySelector('#close-panel').click();",
        json!([]),
    );
    set_theme(app, "light");
    let mark = bob.seen.len();
    let started = share_from_picker(app, &artifacts.join("app-share-picker-light.png"));
    wait_presenting(app, true);
    eprintln!("presenting {:?} after Share", started.elapsed());
    bob_sees_share(bob, mark, true);
    eprintln!(
        "bob's first shared frame {:?} after Share",
        started.elapsed()
    );
    settled_screenshot(&artifacts.join("app-presenting-light.png"));
    set_theme(app, "dark");
    settled_screenshot(&artifacts.join("app-presenting-dark.png"));

    // Stop on the sharing bar: the presenter layout goes, Bob gets Delete.
    let mark = bob.seen.len();
    app.ui().click("#stop-share");
    wait_presenting(app, false);
    bob_sees_share(bob, mark, false);
    // The toasts after Stop, for the log: ScreenShare::stop gives the aux
    // channel its camera and microphone back while it still runs, which on
    // a machine without them raises NoCamera / NoMicrophone (media-core's
    // to fix; this step does not assert it).
    std::thread::sleep(Duration::from_millis(1000));
    let toasts = app.ui().exec(
        "return [...document.querySelectorAll('.toast')].map(t => t.dataset.code || t.textContent);",
        json!([]),
    );
    eprintln!("toasts after Stop: {toasts}");

    // Again, and the shared window closes mid-share: the share ends by itself.
    let mark = bob.seen.len();
    share_from_picker(app, &artifacts.join("app-share-picker-dark.png"));
    wait_presenting(app, true);
    bob_sees_share(bob, mark, true);
    let mark = bob.seen.len();
    window.close();
    bob_sees_share(bob, mark, false);
    wait_presenting(app, false);
    let toast = app.ui().wait_for(
        "the 'sharing stopped' toast",
        LONG,
        "const t = [...document.querySelectorAll('.toast')].find(t => t.textContent.includes('Sharing stopped'));
         return t ? t.textContent : null;",
    );
    assert!(
        toast.as_str().unwrap_or("").contains(SHARED_TITLE),
        "{toast}"
    );
    settled_screenshot(&artifacts.join("app-share-ended.png"));
}

/// A headless Carol shares the X screen (`confer call --share-screen`): the
/// app shows it on the stage of the presenter layout and asks for its high
/// layer, also as a strip thumbnail while Bob is pinned; when Carol leaves
/// (stream Delete) the presenter layout goes.
fn see_a_remote_share(app: &RunningApp, joining: &[String], artifacts: &Path) {
    let ui = app.ui();
    let mut args: Vec<&str> = joining.iter().map(String::as_str).collect();
    args.extend([
        "--user",
        "carol",
        "--name",
        "Carol",
        "--share-screen",
        "carol-screen",
        "--media-ip",
        "127.0.0.1",
    ]);
    let mut carol = Participant::spawn(&app::confer_binary(), &args);
    carol.wait_for("carol logged in", 0, LONG, |e| {
        e["event"] == "RoomStateUpdate" && e["state"] == "Connected"
    });
    let share = ".tile[data-stream-id=\"carol-screen\"]";
    ui.wait_for(
        "Carol's screen on the stage of the presenter layout",
        LONG,
        &format!(
            "const t = document.querySelector('{share}');
             return !!t && t.dataset.share === 'remote' && t.hasAttribute('data-stage')
               && t.hasAttribute('data-rendering')
               && document.querySelector('#stage').dataset.mode === 'presenter'
               && t.querySelector('.tile-name').textContent === \"Carol's screen\";"
        ),
    );
    let layer_asked = |what: &str| {
        let badge = format!("{share} .quality-badge");
        ui.click(&badge);
        let asked = ui.wait_for(
            what,
            LONG,
            "const p = document.querySelector('.stats-popover');
             if (!p || p.hidden) return null;
             const dt = [...p.querySelectorAll('dt')].find(d => d.textContent === 'Layer asked');
             const v = dt && dt.nextElementSibling.textContent;
             return v && v !== '–' ? v : null;",
        );
        ui.click(&badge);
        asked
    };
    assert_eq!(
        layer_asked("the layer asked for Carol's screen"),
        "High (full size)"
    );
    settled_screenshot(&artifacts.join("app-remote-share-dark.png"));
    set_theme(app, "light");
    settled_screenshot(&artifacts.join("app-remote-share-light.png"));
    set_theme(app, "dark");
    // The pin button shows on hover only: pressed from the page.
    let pin_bob = || {
        ui.exec(
            "document.querySelector('.tile[data-user-id=\"bob\"]:not([data-share]) .tile-pin').click();",
            json!([]),
        );
    };
    // Bob pinned: Carol's screen goes to the strip and keeps the high layer.
    pin_bob();
    ui.wait_for(
        "Carol's screen in the strip",
        LONG,
        &format!("const t = document.querySelector('{share}'); return !!t && t.dataset.place === 'strip';"),
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        layer_asked("the layer asked for Carol's screen in the strip"),
        "High (full size)"
    );
    pin_bob();
    drop(carol);
    ui.wait_for(
        "the presenter layout gone with Carol's screen",
        LONG,
        &format!(
            "return !document.querySelector('{share}') && document.querySelector('#stage').dataset.mode !== 'presenter';"
        ),
    );
}

/// An X screenshot once the webview has painted what the DOM says (under
/// Xvfb on a loaded machine the window's pixels lag the DOM by up to a
/// second or so).
fn settled_screenshot(path: &Path) {
    std::thread::sleep(Duration::from_millis(1500));
    screen::screenshot(path);
}

/// Opens the picker and shares the window titled [`SHARED_TITLE`]; checks
/// that the app's own window is not offered. `shot` is where the picker's
/// screenshot goes. Returns when Share was clicked.
fn share_from_picker(app: &RunningApp, shot: &Path) -> Instant {
    let ui = app.ui();
    ui.click("#toggle-share");
    let names = ui.wait_for(
        "the share picker's sources",
        LONG,
        "const d = document.querySelector('#share-dialog');
         const cards = [...document.querySelectorAll('#share-sources .share-card')];
         return d && d.open && cards.some(c => c.dataset.kind === 'window')
           ? cards.map(c => c.querySelector('.share-name').textContent) : null;",
    );
    eprintln!("share sources: {names}");
    let names: Vec<&str> = names
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(names.contains(&SHARED_TITLE), "{names:?}");
    assert!(
        !names.contains(&"Confer"),
        "the app offers its own window: {names:?}"
    );
    ui.exec(
        "const c = [...document.querySelectorAll('#share-sources .share-card')]
           .find(c => c.querySelector('.share-name').textContent === arguments[0]);
         c.click(); c.focus();",
        json!([SHARED_TITLE]),
    );
    settled_screenshot(shot);
    ui.click("#share-start");
    Instant::now()
}

/// Waits for the presenter layout with our share on the stage, the sharing
/// bar and the Share button pressed (`sharing`), or for all three gone.
fn wait_presenting(app: &RunningApp, sharing: bool) {
    let script = format!(
        "const bar = document.querySelector('#share-bar');
         const stage = document.querySelector('#stage');
         const own = document.querySelector('.tile[data-share=\"own\"]');
         const pressed = document.querySelector('#toggle-share').getAttribute('aria-pressed');
         const on = !!bar && !bar.hidden && stage.dataset.mode === 'presenter'
           && !!own && own.hasAttribute('data-stage') && pressed === 'true';
         const off = !!bar && bar.hidden && stage.dataset.mode !== 'presenter' && !own && pressed === 'false';
         return {sharing} ? on : off;"
    );
    app.ui().wait_for(
        if sharing {
            "the presenter layout and the sharing bar"
        } else {
            "the presenter layout and the sharing bar gone"
        },
        LONG,
        &script,
    );
}

/// Sets the theme the way the settings do (`data-theme` on the root).
fn set_theme(app: &RunningApp, theme: &str) {
    app.ui().exec(
        "document.documentElement.dataset.theme = arguments[0];",
        json!([theme]),
    );
    std::thread::sleep(Duration::from_millis(500));
}

/// Waits until Bob sees the stream `alice-screen` come (and plays it) or go.
fn bob_sees_share(bob: &mut Participant, mark: usize, added: bool) {
    let what = if added { "Add" } else { "Delete" };
    bob.wait_for(&format!("alice-screen {what}"), mark, LONG, |e| {
        e["event"] == "RoomStreamUpdate"
            && e["update_type"] == what
            && e["streams"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["stream_id"] == "alice-screen"))
    });
    if added {
        // The first frame (reported once per stream ID), or frames counted.
        bob.wait_for("bob receives alice-screen's video", mark, LONG, |e| {
            is(e, "PlayerRecvVideoFirstFrame", "alice-screen")
                || (is(e, "PlayerQualityUpdate", "alice-screen")
                    && e["quality"]["video_recv_fps"].as_f64() > Some(0.0))
        });
    }
}

/// Waits until the tile's rectangle differs from `before` (layout followed
/// the resize) and stays put for a moment; returns it.
fn ui_rect_changed(app: &RunningApp, tile_css: &str, before: Rect) -> Rect {
    let mut last = before;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        let now = tile_rect(app, tile_css);
        if now != before && now == last {
            return now;
        }
        last = now;
    }
    panic!("the tile never moved after the resize: {before:?}");
}
