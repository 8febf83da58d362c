// Dev only: drives the built UI in headless Chromium with the fake Tauri and
// checks the contract's DOM hooks and command sequences end to end.
// `npm run build && node --experimental-websocket dev/smoke.mjs`

import assert from "node:assert/strict";
import { startServer } from "./serve.mjs";
import { chromiumPath, launch, sleep } from "./cdp.mjs";

if (!chromiumPath) {
  console.log("no chromium found; skipping");
  process.exit(0);
}
const server = await startServer(0);
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await launch();
const checks = [];
const check = async (name, f) => {
  try {
    await f();
    checks.push(`ok   ${name}`);
  } catch (e) {
    checks.push(`FAIL ${name}: ${e.message}`);
    process.exitCode = 1;
  }
};

try {
  // ---- host, keyboard, leave with confirmation ----
  let p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=call&theme=dark`);
  await sleep(1500);
  const js = (e) => p.eval(e);
  await check("call screen visible, home hidden", async () => {
    assert.equal(await js(`document.querySelector('[data-screen="call"]').hidden`), false);
    assert.equal(await js(`document.querySelector('[data-screen="home"]').hidden`), true);
  });
  await check("invite carries server, app id, room, token (no app sign); the link is host_invite's", async () => {
    const d = await js(`({...document.querySelector('#invite').dataset})`);
    assert.equal(d.server, "ws://127.0.0.1:40123/ws");
    assert.equal(d.appId, "1234567");
    assert.match(d.room, /^room-/);
    assert.match(d.token, /^CF1\.[\w-]+\.[\w-]+$/);
    assert.equal(d.fingerprint, "", "this computer only: no TLS");
    assert.equal("appSign" in d, false);
    const invite = await js(`__confer_mock.log.find(([c]) => c === 'host_invite')[1]`);
    assert.deepEqual(invite, { room: d.room, ttl_secs: 86400 });
    const link = await js(`document.querySelector('#invite-link-text').textContent`);
    assert.ok(link.startsWith("confer://join?server=") && link.includes(`token=${d.token}`) && !link.includes("app_sign"), link);
    const text = await js(`document.querySelector('[data-screen="call"]').textContent`);
    assert.equal(text.includes("0f3a0f3a"), false, "the AppSign is never shown");
  });
  await check("tiles: self + 3 remote with user/stream ids and names", async () => {
    const tiles = await js(`[...document.querySelectorAll('.tile')].filter(t => !t.closest('[hidden]')).map(t => [t.dataset.userId, t.dataset.streamId ?? null, t.hasAttribute('data-self'), t.querySelector('.tile-name').textContent, t.querySelector('.tile-video').dataset.tileId])`);
    assert.deepEqual(tiles, [
      ["u-ada", null, true, "Ada Lovelace", "self"],
      ["u-grace", "u-grace-main", false, "Grace Hopper", "stream:u-grace-main"],
      ["u-alan", "u-alan-main", false, "Alan Turing", "stream:u-alan-main"],
      ["u-katherine", "u-katherine-main", false, "Katherine Johnson", "stream:u-katherine-main"],
    ]);
  });
  await check("sound levels: monitor at 100 ms, speaking rings, mic bars, meter", async () => {
    const starts = await js(`__confer_mock.log.filter(([c]) => c === 'start_sound_level_monitor').map(([, a]) => a)`);
    assert.ok(starts.length >= 1 && starts.every((a) => a.interval_ms === 100), JSON.stringify(starts));
    await sleep(300);
    const speaking = await js(`[...document.querySelectorAll('.tile[data-speaking]')].map(t => t.dataset.streamId ?? 'self')`);
    assert.ok(speaking.includes("u-grace-main"), `speaking: ${speaking}`);
    assert.ok(!speaking.includes("u-alan-main"), "a muted stream never speaks");
    assert.equal(await js(`document.querySelector('#mic-meter').getAttribute('role')`), "meter");
    assert.ok(Number(await js(`document.querySelector('#toggle-mic').style.getPropertyValue('--level') || '0'`)) >= 0);
    assert.equal(await js(`document.querySelector('#muted-hint').getAttribute('aria-live')`), "polite");
  });
  await check("each remote tile asks for the simulcast layer its size is worth (camera off: low)", async () => {
    const asks = await js(`__confer_mock.log.filter(([c]) => c === 'set_play_stream_video_layer').map(([, a]) => a)`);
    const last = Object.fromEntries(asks.map((a) => [a.stream_id, a.layer]));
    const heights = await js(`Object.fromEntries([...document.querySelectorAll('.tile[data-stream-id]')].map(t => [t.dataset.streamId, t.querySelector('.tile-video').getBoundingClientRect().height]))`);
    for (const [id, h] of Object.entries(heights)) {
      if (id === "u-katherine-main") continue;
      assert.equal(last[id], h >= 480 ? "high" : h >= 240 ? "medium" : "low", `${id}: ${h} px tall, asked ${last[id]}`);
    }
    assert.equal(last["u-katherine-main"], "low", "Katherine's camera is muted");
  });
  await check("login, publish and play used the contract's args", async () => {
    const log = await js(`__confer_mock.log.map(([c, a]) => [c, JSON.stringify(a)])`);
    const login = log.find(([c]) => c === "login_room");
    assert.match(login[1], /"user_id":"u-ada".*"user_name":"Ada Lovelace".*"is_user_status_notify":true/);
    assert.deepEqual(log.find(([c]) => c === "start_publishing_stream"), ["start_publishing_stream", '{"stream_id":"u-ada-main"}']);
    assert.ok(log.some(([c, a]) => c === "start_playing_stream" && a === '{"stream_id":"u-grace-main","tile_id":"stream:u-grace-main"}'));
  });
  await check("update_tiles: device px rects, camera-off tile hidden", async () => {
    const rects = await js(`Object.fromEntries([...__confer_mock.rects].map(([k, v]) => [k, v]))`);
    assert.equal(rects["self"].visible, true);
    assert.ok(rects["self"].width > 100 && Number.isInteger(rects["self"].x));
    assert.equal(rects["stream:u-katherine-main"].visible, false, "Katherine's camera is muted");
    assert.equal(rects["preview"].visible, false, "the home preview is hidden during the call");
  });
  await check("M toggles the mic (aria-pressed), Ctrl+D toggles back", async () => {
    const pressed = () => js(`document.querySelector('#toggle-mic').getAttribute('aria-pressed')`);
    assert.equal(await pressed(), "true");
    await js(`document.activeElement?.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: 'm', code: 'KeyM', bubbles: true}))`);
    await sleep(50);
    assert.equal(await pressed(), "false");
    assert.deepEqual(await js(`__confer_mock.log.filter(([c]) => c === 'mute_microphone').at(-1)`), ["mute_microphone", { mute: true }]);
    await js(`document.dispatchEvent(new KeyboardEvent('keydown', {key: 'd', code: 'KeyD', ctrlKey: true, bubbles: true}))`);
    await sleep(50);
    assert.equal(await pressed(), "true");
  });
  await check("a popover over a tile hides that tile's surface", async () => {
    await js(`document.querySelector('#camera-menu').click()`);
    await sleep(100);
    const hidden = await js(`[...__confer_mock.rects.values()].filter(r => !r.visible).map(r => r.tile_id)`);
    assert.ok(hidden.length >= 1, `some tile hidden: ${hidden}`);
    await js(`document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))`);
    await sleep(100);
    assert.equal(await js(`document.querySelector('.device-menu').hidden`), true);
  });
  await check("leave while hosting asks, then stops everything in order and shows home", async () => {
    await js(`document.querySelector('#leave').click()`);
    await sleep(50);
    assert.equal(await js(`document.querySelector('#leave-dialog').open`), true);
    const surfaces = await js(`[...__confer_mock.rects.values()].every(r => !r.visible)`);
    assert.equal(surfaces, true, "every surface hidden under the modal");
    const before = await js(`__confer_mock.log.length`);
    await js(`document.querySelector('#confirm-leave').click()`);
    await sleep(300);
    const calls = await js(`__confer_mock.log.slice(${before}).map(([c]) => c).filter(c => !['update_tiles','diagnostics','list_devices','create_engine','start_preview','set_video_config','set_video_source','use_video_device','set_audio_source','use_audio_device','mute_microphone','enable_camera','start_sound_level_monitor','stop_sound_level_monitor','set_audio_processing'].includes(c))`);
    assert.deepEqual(calls, ["stop_publishing_stream", "stop_preview", "logout_room", "destroy_engine", "stop_hosting"]);
    assert.equal(await js(`document.querySelector('[data-screen="home"]').hidden`), false);
  });
  await p.close();

  // ---- join from a pasted invite link, reconnecting banner, kick toast ----
  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=home&theme=light`);
  await sleep(800);
  await check("Join without a token asks for the invite; an App ID problem opens Advanced and focuses it", async () => {
    await p.eval(`(() => { const t = document.querySelector('#invite-token'); t.value = ''; document.querySelector('#join-call').click(); })()`);
    assert.equal(await p.eval(`document.activeElement.id`), "invite-token");
    assert.match(await p.eval(`document.querySelector('#home-error').textContent`), /invite link/);
    assert.equal(await p.eval(`document.querySelector('#join-advanced').open`), false);
    await p.eval(`(() => { document.querySelector('#invite-token').value = 'CF1.e30.c2ln'; document.querySelector('#app-id').value = ''; document.querySelector('#join-call').click(); })()`);
    assert.equal(await p.eval(`document.querySelector('#join-advanced').open`), true);
    assert.equal(await p.eval(`document.activeElement.id`), "app-id");
    assert.equal(await p.eval(`__confer_mock.log.some(([c]) => c === 'login_room')`), false);
    await p.eval(`(() => { document.querySelector('#join-advanced').open = false; document.querySelector('#app-id').value = '1234567'; })()`);
  });
  await check("Advanced (your own server) is collapsed; pasting an invite fills everything and says so; Join logs in with the token and pins", async () => {
    assert.equal(await p.eval(`document.querySelector('#join-advanced').open`), false);
    const fp = "3F:9A:0C:77:E1:52:B4:08:6D:C3:29:FA:10:8E:5B:47:D2:61:0F:AC:93:3E:7B:C5:48:1D:E6:02:BF:74:A9:58";
    const exp = Math.floor(Date.now() / 1000) + 7200;
    const b64 = (x) => Buffer.from(x).toString("base64url");
    const token = `CF1.${b64(JSON.stringify({ app_id: 77, user_id: "", room_id: "room-xyz", privileges: { login: true, publish: true }, iat: 0, exp }))}.${b64("sig")}`;
    await p.eval(`(() => { const el = document.querySelector('#invite-link'); el.value = 'confer://join?server=wss%3A%2F%2F10.0.0.9%3A4000%2Fws&app_id=77&room=room-xyz&token=${token}&fp=${encodeURIComponent(fp)}'; el.dispatchEvent(new Event('input')); })()`);
    const fields = await p.eval(`['#server-url','#room-id','#invite-token','#app-id','#app-sign','#server-pin'].map(s => document.querySelector(s).value)`);
    assert.deepEqual(fields, ["wss://10.0.0.9:4000/ws", "room-xyz", token, "77", "", fp]);
    const hint = await p.eval(`document.querySelector('#invite-hint').textContent`);
    assert.match(hint, /^Invite for room room-xyz on 10\.0\.0\.9:4000 — secured with the host's certificate\. Expires in 1 h/);
    await p.eval(`document.querySelector('#join-call').click()`);
    await sleep(400);
    const log = await p.eval(`__confer_mock.log.map(([c, a]) => [c, a])`);
    const create = log.filter(([c]) => c === "create_engine").at(-1);
    assert.deepEqual(create[1].profile, { server: "wss://10.0.0.9:4000/ws", app_id: 77, pin: fp, scenario: "StandardVideoCall" });
    const login = log.find(([c]) => c === "login_room")[1];
    assert.equal(login.room_id, "room-xyz");
    assert.equal(login.token, token);
    const saved = log.filter(([c]) => c === "save_settings").at(-1)?.[1].settings;
    assert.equal(saved?.last_token, token);
    assert.equal(saved?.last_pin, fp);
    assert.equal(saved?.last_app_sign, "");
    const d = await p.eval(`({...document.querySelector('#invite').dataset})`);
    assert.equal(d.token, token);
    assert.equal(d.fingerprint, fp);
    assert.equal(await p.eval(`document.querySelector('#reachability').hidden`), true, "guests have no Reachability section");
  });
  await check("#leave leaves at once for a guest", async () => {
    await sleep(600);
    await p.eval(`document.querySelector('#leave').click()`);
    await sleep(300);
    assert.equal(await p.eval(`document.querySelector('#leave-dialog').open`), false);
    assert.equal(await p.eval(`document.querySelector('[data-screen="home"]').hidden`), false);
    const calls = await p.eval(`__confer_mock.log.map(([c]) => c)`);
    assert.equal(calls.includes("stop_hosting"), false);
  });
  await p.close();

  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=invite&theme=light`);
  await sleep(1500);
  await check("hosting for the network: wss address, fingerprint, New link, forwarding and Check reachability", async () => {
    const d = await p.eval(`({...document.querySelector('#invite').dataset})`);
    assert.equal(d.server, "wss://192.168.1.20:40123/ws");
    assert.match(d.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const link = await p.eval(`document.querySelector('#invite-link-text').textContent`);
    assert.ok(link.includes(`fp=${encodeURIComponent(d.fingerprint)}`), link);
    await p.eval(`document.querySelector('#new-invite').click()`);
    await sleep(100);
    const d2 = await p.eval(`({...document.querySelector('#invite').dataset})`);
    assert.notEqual(d2.token, d.token, "a fresh token");
    assert.equal(await p.eval(`__confer_mock.log.filter(([c]) => c === 'host_invite').length`), 2);
    assert.match(await p.eval(`document.querySelector('#reach-forward').textContent`), /forward TCP 40123 and UDP 40124 on your router to this computer/);
    await p.eval(`document.querySelector('#check-reachability').click()`);
    await sleep(100);
    assert.equal(await p.eval(`document.querySelector('#check-reachability').disabled`), true);
    await sleep(1500);
    const rows = await p.eval(`[...document.querySelectorAll('#reachability .reach-check')].map(li => [li.dataset.name, li.dataset.ok, li.querySelector('.reach-state').textContent])`);
    assert.equal(rows.length, 7);
    assert.deepEqual(rows.at(-1), ["turn-udp", "false", "Failed"]);
    assert.ok(rows.slice(0, -1).every(([, ok, t]) => ok === "true" && t === "Passed"));
    assert.equal(await p.eval(`document.querySelector('#reach-status').getAttribute('role')`), "status");
    assert.match(await p.eval(`document.querySelector('#reach-status').textContent`), /6 of 7 checks passed\. Failed: TURN \(UDP\)\./);
  });
  await p.close();

  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=reconnecting&theme=dark`);
  await sleep(1500);
  await check("reconnecting banner visible with role=status", async () => {
    assert.equal(await p.eval(`document.querySelector('#reconnecting-banner').hidden`), false);
    assert.equal(await p.eval(`document.querySelector('#reconnecting-banner').getAttribute('role')`), "status");
    await p.eval(`__confer_mock.emit('RoomStateUpdate', {room_id: document.querySelector('#invite').dataset.room, state: 'Connected', error_code: 0, extended_data: '{}'})`);
    await sleep(50);
    assert.equal(await p.eval(`document.querySelector('#reconnecting-banner').hidden`), true);
  });
  await p.close();

  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=kicked&theme=dark`);
  await sleep(1500);
  await check("kicked: a .toast with the error code and the failure dialog", async () => {
    const toasts = await p.eval(`[...document.querySelectorAll('.toast')].map(t => t.textContent)`);
    assert.ok(toasts.some((t) => t.includes("1002013")), JSON.stringify(toasts));
    assert.equal(await p.eval(`document.querySelector('#failed-dialog').open`), true);
    assert.equal(await p.eval(`document.querySelector('#diagnostics [data-render-path]').dataset.renderPath`), "canvas");
  });
  await p.close();

  // ---- layout toggle (W / #toggle-layout), speaker view, pins (keys 0-9, pin button) ----
  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=grid&theme=dark`);
  await sleep(1500);
  const q = (e) => p.eval(e);
  const key = (k) => q(`document.activeElement?.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: '${k}', bubbles: true}))`);
  const layoutState = () =>
    q(`({ layout: document.querySelector('.call').dataset.layout, pressed: document.querySelector('#toggle-layout').getAttribute('aria-pressed'),
          mode: document.querySelector('#stage').dataset.mode,
          stage: document.querySelector('.tile[data-stage]')?.dataset.userId ?? null,
          pinned: [...document.querySelectorAll('.tile[data-pinned]')].map(t => t.dataset.userId) })`);
  const noOverlap = async () => {
    const boxes = await q(`[...document.querySelectorAll('#grid .tile:not([hidden])')].map(t => { const r = t.getBoundingClientRect(); const s = document.querySelector('#stage').getBoundingClientRect(); return [t.dataset.userId, r.x, r.y, r.width, r.height, s.x, s.y, s.width, s.height]; })`);
    for (const [id, x, y, w, h, sx, sy, sw, sh] of boxes) assert.ok(x >= sx - 1 && y >= sy - 1 && x + w <= sx + sw + 1 && y + h <= sy + sh + 1, `${id} outside the stage`);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, ax, ay, aw, ah] = boxes[i];
        const [b, bx, by, bw, bh] = boxes[j];
        assert.ok(!(ax < bx + bw - 1 && bx < ax + aw - 1 && ay < by + bh - 1 && by < ay + ah - 1), `${a} overlaps ${b}`);
      }
  };
  await check("6 people start in grid; #toggle-layout is a two-state toggle with W in its label", async () => {
    const st = await layoutState();
    assert.equal(st.layout, "grid");
    assert.equal(st.pressed, "false");
    assert.equal(st.mode, "grid");
    assert.match(await q(`document.querySelector('#toggle-layout').getAttribute('aria-label')`), /\(W\)/);
  });
  await check("W: speaker view, the talking remote person on the stage, the strip beside it, nothing overlapping", async () => {
    await key("w");
    await sleep(300);
    const st = await layoutState();
    assert.equal(st.layout, "speaker");
    assert.equal(st.pressed, "true");
    assert.equal(st.mode, "focus");
    assert.equal(st.stage, "u-grace", "the first remote person talks in the mock");
    await noOverlap();
  });
  await check("speaker view: the stage tile asks for the high layer, the strip's thumbnails for low (after settling)", async () => {
    await sleep(800);
    const asks = await q(`__confer_mock.log.filter(([c]) => c === 'set_play_stream_video_layer').map(([, a]) => a)`);
    const last = Object.fromEntries(asks.map((a) => [a.stream_id, a.layer]));
    assert.equal(last["u-grace-main"], "high", JSON.stringify(last));
    const strip = await q(`[...document.querySelectorAll('.tile[data-place="strip"][data-stream-id]')].filter(t => !t.hidden).map(t => t.dataset.streamId)`);
    assert.ok(strip.length >= 2, `strip: ${strip}`);
    for (const id of strip) assert.equal(last[id], "low", `${id} in the strip asked ${last[id]}`);
  });
  await check("key 2 pins the 2nd remote tile (stage, data-pinned, pin button pressed); 2 again unpins", async () => {
    await key("2");
    await sleep(100);
    let st = await layoutState();
    assert.equal(st.pinned.length, 1);
    assert.equal(st.stage, st.pinned[0]);
    assert.notEqual(st.stage, "u-ada");
    assert.equal(await q(`document.querySelector('.tile[data-pinned] .tile-pin').getAttribute('aria-pressed')`), "true");
    assert.match(await q(`document.querySelector('.tile[data-pinned] .tile-pin').getAttribute('aria-label')`), /^Unpin /);
    await noOverlap();
    await key("2");
    await sleep(100);
    st = await layoutState();
    assert.deepEqual(st.pinned, []);
    assert.equal(st.layout, "speaker");
  });
  await check("0 pins yourself; the pin button pins another; W back to grid drops the pin", async () => {
    await key("0");
    await sleep(100);
    let st = await layoutState();
    assert.deepEqual(st.pinned, ["u-ada"]);
    assert.equal(st.stage, "u-ada");
    await q(`document.querySelector('.tile:not([data-self]):not([hidden]) .tile-pin').click()`);
    await sleep(100);
    st = await layoutState();
    assert.equal(st.pinned.length, 1);
    assert.notEqual(st.pinned[0], "u-ada");
    await key("w");
    await sleep(100);
    st = await layoutState();
    assert.equal(st.layout, "grid");
    assert.deepEqual(st.pinned, []);
    assert.equal(await q(`document.querySelectorAll('.tile[data-stage]').length`), 0);
    await noOverlap();
  });
  await check("a pin from grid view switches to speaker view; the help lists W and 0 / 1–9", async () => {
    await key("1");
    await sleep(100);
    const st = await layoutState();
    assert.equal(st.layout, "speaker");
    assert.equal(st.pinned.length, 1);
    const help = await q(`document.querySelector('#help-dialog .shortcuts').textContent`);
    assert.match(help, /W.*grid and speaker view/);
    assert.match(help, /1–9/);
  });
  await p.close();

  // ---- screen sharing: picker (keys, Esc, focus), presenter layout, a remote share ----
  p = await browser.page(1100, 720);
  await p.goto(`${base}?scenario=grid&theme=dark`);
  await sleep(1500);
  const r = (e) => p.eval(e);
  const press = (k, more = "") => r(`document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: '${k}', bubbles: true, cancelable: true${more}}))`);
  await check("Ctrl+Shift+S opens the share picker (modal, surfaces hidden): screens then windows, arrows and End move the selection, its cancel (what Esc fires) closes it and focus returns to Share", async () => {
    await r(`document.activeElement?.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: 'S', ctrlKey: true, shiftKey: true, bubbles: true}))`);
    await sleep(400);
    assert.equal(await r(`document.querySelector('#share-dialog').open`), true);
    const cards = await r(`[...document.querySelectorAll('#share-sources [role=option]')].map(c => c.dataset.kind)`);
    assert.deepEqual(cards, ["screen", "window", "window", "window"]);
    assert.equal(await r(`document.activeElement.dataset.sourceId`), "screen:0", "the first card has the focus");
    assert.equal(await r(`document.querySelector('#share-warning').hidden`), false, "a screen: the Confer window shows on it");
    assert.ok(await r(`[...__confer_mock.rects.values()].every(r => !r.visible)`), "video surfaces hidden under the modal");
    await press("ArrowRight");
    assert.equal(await r(`document.activeElement.dataset.sourceId`), "window:4194311");
    assert.equal(await r(`document.activeElement.getAttribute('aria-selected')`), "true");
    assert.equal(await r(`document.querySelector('#share-warning').hidden`), true);
    await press("End");
    assert.equal(await r(`document.activeElement.dataset.sourceId`), "window:4194512");
    await r(`document.querySelector('#share-dialog').dispatchEvent(new Event('cancel')); document.querySelector('#share-dialog').close()`);
    await sleep(100);
    assert.equal(await r(`document.querySelector('#share-dialog').open`), false);
    assert.equal(await r(`document.activeElement.id`), "toggle-share");
  });
  await check("sharing a window: start_share with <user>-screen, the sharing bar, the presenter layout with our note on the stage; Stop leaves it", async () => {
    await r(`document.querySelector('#toggle-share').click()`);
    await sleep(400);
    await r(`document.querySelector('[data-source-id="window:4194400"]').click(); document.querySelector('input[name=share-hint][value=motion]').click(); document.querySelector('#share-start').click()`);
    await sleep(300);
    const start = await r(`__confer_mock.log.filter(([c]) => c === 'start_share').at(-1)[1]`);
    assert.deepEqual(start, { source_id: "window:4194400", hint: "motion", stream_id: "u-ada-screen" });
    assert.equal(await r(`document.querySelector('#share-bar').hidden`), false);
    assert.match(await r(`document.querySelector('#share-bar').textContent`), /main\.rs/);
    assert.equal(await r(`document.querySelector('#stage').dataset.mode`), "presenter");
    assert.equal(await r(`document.querySelector('.tile[data-stage]').dataset.share`), "own");
    assert.equal(await r(`document.querySelector('#toggle-share').getAttribute('aria-pressed')`), "true");
    await noOverlap();
    await r(`document.querySelector('#stop-share').click()`);
    await sleep(200);
    assert.ok(await r(`__confer_mock.log.some(([c]) => c === 'stop_share')`));
    assert.equal(await r(`document.querySelector('#share-bar').hidden`), true);
    assert.notEqual(await r(`document.querySelector('#stage').dataset.mode`), "presenter");
  });
  await check("a remote share takes the stage and asks for the high layer; its Delete leaves the presenter layout", async () => {
    await r(`__confer_mock.emit('RoomStreamUpdate', { room_id: document.querySelector('#room-name').textContent, update_type: 'Add', streams: [{ stream_id: 'u-alan-screen', user: { user_id: 'u-alan', user_name: 'Alan Turing' }, extra_info: '' }], extended_data: '{}' })`);
    await sleep(1200);
    assert.equal(await r(`document.querySelector('#stage').dataset.mode`), "presenter");
    const stage = await r(`(t => [t.dataset.streamId, t.dataset.share, t.querySelector('.tile-name').textContent])(document.querySelector('.tile[data-stage]'))`);
    assert.deepEqual(stage, ["u-alan-screen", "remote", "Alan Turing's screen"]);
    const asks = await r(`__confer_mock.log.filter(([c, a]) => c === 'set_play_stream_video_layer' && a.stream_id === 'u-alan-screen').map(([, a]) => a.layer)`);
    assert.equal(asks.at(-1), "high");
    await noOverlap();
    await r(`__confer_mock.emit('RoomStreamUpdate', { room_id: document.querySelector('#room-name').textContent, update_type: 'Delete', streams: [{ stream_id: 'u-alan-screen', user: { user_id: 'u-alan', user_name: 'Alan Turing' }, extra_info: '' }], extended_data: '{}' })`);
    await sleep(200);
    assert.equal(await r(`document.querySelector('#stage').dataset.mode`), "grid");
  });
  await p.close();
} finally {
  await browser.close();
  server.close();
}
console.log(checks.join("\n"));
