// The pre-join screen (UX.md §1): live preview with mic/camera toggles and
// pickers, the name, "Host a call", and "Join a call" (fields or a pasted
// invite link). Device problems are reported but never block joining.

import type { CallStore } from "../state.js";
import type { CallSession, JoinParams } from "../session.js";
import { hostProfile, PREVIEW_TILE } from "../session.js";
import type { Devices } from "../devices.js";
import { cameraOptions, cameraValue, hearYourselfButton, micOptions, micValue, presetOf, speakerOptions, speakerTestButton, speakerValue, type Option } from "../devices.js";
import type { EngineProfile, HostScope, Settings, Theme, VideoPreset } from "../types.js";
import { normaliseError } from "../tauri.js";
import { describeError } from "../errors.js";
import { ErrorCode } from "../generated/error-codes.js";
import { buildInvite, inviteSummary, parseInvite, tokenExpired, tokenInfo } from "../invite.js";
import { checkJoinFields, previewProfile } from "../join-form.js";
import { generateRoomId, hueFor, initials } from "../names.js";
import { applyTheme } from "../theme.js";
import { $, afterPaint, h, setIcon, setText } from "../ui/dom.js";
import type { InviteInfo } from "../call/panel.js";
import type { SoundLevels } from "../levels.js";
import { renderMeter } from "../ui/meter.js";
import { ECHO_CANCELLATION_OPTIONS, echoCancellationOf, NOISE_SUPPRESSION_OPTIONS, noiseSuppressionOf } from "../audio-processing.js";

export interface HomeDeps {
  store: CallStore;
  session: CallSession;
  devices: Devices;
  settings: () => Settings;
  update: (s: Settings) => void;
  version: () => string;
  /** Sound levels: the meter beside the microphone picker while the preview runs. */
  levels: SoundLevels;
  /** Switch to the call screen and join. */
  join: (params: JoinParams, invite: InviteInfo | null) => void;
}

/** The screen's elements by name: their selectors. */
const FIELDS = {
  // Joining.
  name: "#name", server: "#server-url", room: "#room-id", appId: "#app-id", appSign: "#app-sign",
  token: "#invite-token", pin: "#server-pin", advanced: "#join-advanced", inviteLink: "#invite-link", inviteHint: "#invite-hint",
  scope: "#host-scope", host: "#host-call", join: "#join-call", error: "#home-error",
  // Devices and the preview tile.
  camera: "#camera-select", mic: "#mic-select", speaker: "#speaker-select", speakerTest: "#speaker-test", preset: "#video-preset",
  micToggle: "#home-mic", camToggle: "#home-camera", status: "#device-status", meter: "#mic-meter", hearYourself: "#hear-yourself",
  noise: "#noise-suppression", echo: "#echo-cancellation",
  tile: "#home-tile", avatar: "#home-avatar", tileName: "#home-tile-name",
  // Settings.
  theme: "#theme-select", version: "#app-version",
} as const;

export class HomeScreen {
  readonly root: HTMLElement;
  private busy = false;
  private previewError = "";
  private readonly f: Record<string, HTMLInputElement | HTMLSelectElement | HTMLButtonElement | HTMLElement>;

  constructor(private d: HomeDeps) {
    this.root = $('[data-screen="home"]');
    this.f = Object.fromEntries(Object.entries(FIELDS).map(([name, css]) => [name, $(css, this.root)]));
    this.fill(d.settings());
    this.bind();
    d.devices.subscribe(() => this.renderDevices());
    d.store.subscribe((s, prev) => {
      if (s.local !== prev.local) this.renderToggles();
    });
    this.renderToggles();
    this.renderDevices();
    d.levels.onCapturedLevel((level) => {
      if (!this.root.hidden) renderMeter(this.f.meter!, level);
    });
    d.levels.onAvailable((ok) => (this.f.meter!.hidden = !ok));
  }

  private input(k: string): HTMLInputElement {
    return this.f[k] as HTMLInputElement;
  }

  private fill(s: Settings): void {
    this.input("name").value = s.name;
    this.input("server").value = s.last_server;
    this.input("room").value = s.last_room;
    this.input("appId").value = s.last_app_id ? String(s.last_app_id) : "";
    this.input("appSign").value = s.last_app_sign;
    this.input("pin").value = s.last_pin;
    // A remembered token is filled in only while it still works (its claims say until when).
    this.input("token").value = s.last_token && !tokenExpired(s.last_token) ? s.last_token : "";
    // Someone who joins their own server with its App Sign finds the fields open.
    (this.f.advanced as HTMLDetailsElement).open = !!s.last_app_sign && !this.input("token").value;
    (this.f.scope as HTMLSelectElement).value = s.host_scope;
    (this.f.theme as HTMLSelectElement).value = s.theme;
    (this.f.preset as HTMLSelectElement).value = presetOf(s);
    this.renderName();
  }

  private save(patch: Partial<Settings>): void {
    this.d.update({ ...this.d.settings(), ...patch });
  }

  private bind(): void {
    const name = this.input("name");
    name.addEventListener("input", () => {
      this.save({ name: name.value.trim() });
      this.renderName();
      this.clearError("name");
    });
    for (const k of ["server", "room", "token", "appId", "appSign", "pin"] as const) {
      this.input(k).addEventListener("input", () => this.clearError());
    }
    // Enter in any field joins (in the name: joins when a server is filled in, else hosts).
    this.root.querySelectorAll<HTMLInputElement>("input").forEach((el) =>
      el.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" || e.isComposing) return;
        e.preventDefault();
        if (el === name && !this.input("server").value.trim()) void this.host();
        else void this.joinFromForm();
      }),
    );
    const link = this.input("inviteLink");
    const useLink = (): void => {
      const inv = parseInvite(link.value);
      if (!link.value.trim()) {
        setText(this.f.inviteHint!, "");
        return;
      }
      if (!inv) {
        setText(this.f.inviteHint!, "That doesn't look like a Confer invite (confer://join?server=…).");
        this.f.inviteHint!.dataset.kind = "error";
        return;
      }
      // The link is the whole invite: nothing of an earlier server (token, pin, App Sign) stays.
      this.input("server").value = inv.server;
      this.input("room").value = inv.room;
      if (inv.app_id !== null) this.input("appId").value = String(inv.app_id);
      this.input("token").value = inv.token;
      this.input("pin").value = inv.fp;
      // Old links carried the AppSign; new ones never do.
      this.input("appSign").value = inv.token ? "" : inv.legacy_app_sign;
      const hint = inviteSummary(inv);
      this.f.inviteHint!.dataset.kind = hint.kind;
      setText(this.f.inviteHint!, hint.text);
      this.clearError();
    };
    link.addEventListener("input", useLink);
    link.addEventListener("change", useLink);

    (this.f.host as HTMLButtonElement).addEventListener("click", () => void this.host());
    (this.f.join as HTMLButtonElement).addEventListener("click", () => void this.joinFromForm());
    const scope = this.f.scope as HTMLSelectElement;
    scope.addEventListener("change", () => this.save({ host_scope: scope.value as HostScope }));
    const theme = this.f.theme as HTMLSelectElement;
    theme.addEventListener("change", () => {
      applyTheme(theme.value as Theme);
      this.save({ theme: theme.value as Theme });
    });
    const live = (): boolean => this.d.session.engine !== null;
    const cam = this.f.camera as HTMLSelectElement;
    cam.addEventListener("change", () => void this.d.devices.chooseCamera(cam.value, live()));
    const mic = this.f.mic as HTMLSelectElement;
    mic.addEventListener("change", () => void this.d.devices.chooseMic(mic.value, live()));
    const sp = this.f.speaker as HTMLSelectElement;
    sp.addEventListener("change", () => void this.d.devices.chooseSpeaker(sp.value, live()));
    // Plays on the picked speaker; works without an engine (UX.md §1).
    this.f.speakerTest!.addEventListener("click", () => void this.d.devices.testSpeaker(sp.value));
    // What others will hear: the processed microphone on the speaker, until toggled off or leaving.
    this.f.hearYourself!.addEventListener("click", () => void this.d.devices.hearYourself(!this.d.devices.hearingSelf));
    const preset = this.f.preset as HTMLSelectElement;
    preset.addEventListener("change", () => void this.d.devices.choosePreset(preset.value as VideoPreset, live()));
    const noise = this.f.noise as HTMLSelectElement;
    noise.addEventListener("change", () => void this.d.devices.chooseProcessing({ noise_suppression: noiseSuppressionOf(noise.value) }));
    const echo = this.f.echo as HTMLSelectElement;
    echo.addEventListener("change", () => void this.d.devices.chooseProcessing({ echo_cancellation: echoCancellationOf(echo.value) }));
    this.f.micToggle!.addEventListener("click", () => void this.d.session.setMic(!this.d.store.state.local.mic));
    this.f.camToggle!.addEventListener("click", () => void this.d.session.setCamera(!this.d.store.state.local.camera));
  }

  show(): void {
    this.root.hidden = false;
    this.busy = false;
    this.setBusy(false);
    this.renderVersion();
    const name = this.input("name");
    if (!name.value.trim()) name.focus();
    // The form first: creating the engine and the preview's GPU surface is heavy.
    void afterPaint().then(() => this.startPreview());
  }

  hide(): void {
    this.root.hidden = true;
    // The call reuses the preview's engine: nobody should hear themselves in it.
    if (this.d.devices.hearingSelf) void this.d.devices.hearYourself(false);
    this.d.levels.release("home");
    renderMeter(this.f.meter!, 0);
  }

  renderVersion(): void {
    setText(this.f.version!, this.d.version() ? `Confer ${this.d.version()}` : "Confer");
  }

  /** Creates an engine just for the preview; failures are shown, joining stays possible. */
  private async startPreview(): Promise<void> {
    // Already joining (Host or Join pressed before the first frame).
    if (this.root.hidden) return;
    this.previewError = "";
    try {
      await this.d.session.ensureEngine(previewProfile(this.d.settings()));
      if (this.root.hidden) return;
      // The meter beside the microphone picker: levels need an engine, not a login.
      this.d.levels.acquire("home");
      await this.d.session.preview(PREVIEW_TILE);
    } catch (e) {
      const err = normaliseError(e);
      this.previewError = `Preview unavailable: ${err.message} (code ${err.code}). You can still join.`;
    }
    this.renderDevices();
  }

  private renderName(): void {
    const n = this.input("name").value.trim();
    const uid = this.d.settings().user_id;
    setText(this.f.avatar!, initials(n || "?"));
    this.f.avatar!.style.setProperty("--hue", String(hueFor(uid)));
    setText(this.f.tileName!, n || "Your name");
  }

  private renderToggles(): void {
    const { mic, camera } = this.d.store.state.local;
    const set = (b: HTMLElement, on: boolean, what: string, onI: "mic" | "camera", offI: "micOff" | "cameraOff"): void => {
      b.setAttribute("aria-pressed", String(on));
      b.dataset.state = on ? "on" : "off";
      const label = `Turn ${on ? "off" : "on"} ${what}`;
      b.setAttribute("aria-label", label);
      b.title = label;
      setIcon(b, on ? onI : offI);
    };
    set(this.f.micToggle!, mic, "microphone", "mic", "micOff");
    set(this.f.camToggle!, camera, "camera", "camera", "cameraOff");
    this.f.tile!.toggleAttribute("data-video-off", !camera);
    // Levels still come while the mic is off (to test it before unmuting); the meter is dimmed.
    this.f.meter!.toggleAttribute("data-off", !mic);
  }

  private renderDevices(): void {
    const s = this.d.settings();
    const list = this.d.devices.list;
    fillSelect(this.f.camera as HTMLSelectElement, cameraOptions(list), cameraValue(s, list));
    fillSelect(this.f.mic as HTMLSelectElement, micOptions(list), micValue(s, list));
    fillSelect(this.f.speaker as HTMLSelectElement, speakerOptions(list), speakerValue(s, list));
    (this.f.preset as HTMLSelectElement).value = presetOf(s);
    // The meter beside the microphone reads the processed signal: these change what it shows.
    fillSelect(this.f.noise as HTMLSelectElement, [...NOISE_SUPPRESSION_OPTIONS], s.noise_suppression);
    fillSelect(this.f.echo as HTMLSelectElement, [...ECHO_CANCELLATION_OPTIONS], s.echo_cancellation);
    const hear = hearYourselfButton(this.d.devices.hearingSelf);
    const hearButton = this.f.hearYourself as HTMLButtonElement;
    setText(hearButton, hear.label);
    hearButton.setAttribute("aria-pressed", String(hear.pressed));
    hearButton.title = hear.title;
    // The loopback needs the preview's engine.
    hearButton.disabled = this.d.session.engine === null && !hear.pressed;
    const test = speakerTestButton(this.d.devices.testingSpeaker);
    (this.f.speakerTest as HTMLButtonElement).disabled = test.disabled;
    setText(this.f.speakerTest!, test.label);

    const st = this.f.status!;
    if (!this.d.devices.loaded) {
      st.dataset.kind = "checking";
      st.setAttribute("role", "status");
      st.replaceChildren(h("p", {}, "Checking devices…"));
      return;
    }
    const problems: string[] = [];
    if (this.previewError) problems.push(this.previewError);
    if (list.cameras.length === 0) problems.push(`${describeError(ErrorCode.NoCamera).title}. You can still join; others see a test pattern.`);
    if (list.microphones.length === 0) problems.push(`${describeError(ErrorCode.NoMicrophone).title}. You can still join; others won't hear you.`);
    if (problems.length) {
      st.dataset.kind = "warning";
      st.setAttribute("role", "alert");
      st.replaceChildren(...problems.map((p) => h("p", {}, p)));
    } else {
      st.dataset.kind = "ok";
      st.setAttribute("role", "status");
      st.replaceChildren(h("p", {}, "Devices ready"));
    }
  }

  private setBusy(on: boolean, which?: "host" | "join"): void {
    const host = this.f.host as HTMLButtonElement;
    const join = this.f.join as HTMLButtonElement;
    host.disabled = on;
    join.disabled = on;
    setText(host.querySelector(".label") ?? host, on && which === "host" ? "Starting…" : "Host a call");
    setText(join.querySelector(".label") ?? join, on && which === "join" ? "Joining…" : "Join");
  }

  private showError(message: string, field?: string): void {
    const box = this.f.error!;
    setText(box, message);
    box.hidden = false;
    if (field) {
      const el = this.root.querySelector<HTMLElement>(`#${field}`);
      // A field under the collapsed "Advanced" opens it first (it could not take the focus).
      const details = el?.closest("details");
      if (details) details.open = true;
      el?.setAttribute("aria-invalid", "true");
      el?.setAttribute("aria-describedby", "home-error");
      el?.focus();
    }
  }

  private clearError(field?: string): void {
    const box = this.f.error!;
    box.hidden = true;
    setText(box, "");
    const sel = field ? `#${field}` : "[aria-invalid]";
    this.root.querySelectorAll(sel).forEach((el) => el.removeAttribute("aria-invalid"));
  }

  private user(): { user_id: string; user_name: string } {
    const s = this.d.settings();
    return { user_id: s.user_id, user_name: this.input("name").value.trim() };
  }

  async host(): Promise<void> {
    if (this.busy) return;
    const name = this.input("name").value.trim();
    if (!name) {
      this.showError("Enter your name so others know who you are.", "name");
      return;
    }
    this.busy = true;
    this.clearError();
    this.setBusy(true, "host");
    const scope = (this.f.scope as HTMLSelectElement).value as HostScope;
    let info;
    try {
      info = await this.d.session.startHosting(scope);
    } catch (e) {
      const err = normaliseError(e);
      this.busy = false;
      this.setBusy(false);
      this.showError(`Could not start the call server: ${err.message} (code ${err.code}).`);
      return;
    }
    const room = generateRoomId();
    // The room's invite (a local signature: quick). A failure never blocks the call: the Info tab offers "Try again".
    let invite = null;
    let invite_error = "";
    try {
      invite = await this.d.session.hostInvite(room);
    } catch (e) {
      const err = normaliseError(e);
      invite_error = `${err.message} (code ${err.code})`;
    }
    this.d.join(
      { profile: hostProfile(info), room_id: room, user: this.user() },
      {
        server: info.addresses[0] ?? info.ws_url,
        addresses: info.addresses,
        app_id: info.app_id,
        room,
        fingerprint: info.fingerprint,
        invite,
        invite_error,
        debug_page_url: info.debug_page_url,
        host: { scope, forward: info.forward },
      },
    );
  }

  async joinFromForm(): Promise<void> {
    if (this.busy) return;
    const r = checkJoinFields({
      name: this.input("name").value,
      server: this.input("server").value,
      room: this.input("room").value,
      token: this.input("token").value,
      appId: this.input("appId").value,
      appSign: this.input("appSign").value,
      pin: this.input("pin").value,
    });
    if (!r.ok) {
      this.showError(r.error.message, r.error.field);
      return;
    }
    this.busy = true;
    this.clearError();
    this.setBusy(true, "join");
    // The token is kept too: it is room-scoped and expiring, and fill() drops it once expired.
    this.save({
      last_server: r.server,
      last_room: r.room,
      last_app_id: r.app_id,
      last_app_sign: r.app_sign,
      last_token: r.token,
      last_pin: r.pin,
      name: this.input("name").value.trim(),
    });
    const profile: EngineProfile = { server: r.server, app_id: r.app_id, scenario: "StandardVideoCall" };
    if (r.app_sign) profile.app_sign = r.app_sign;
    if (r.pin) profile.pin = r.pin;
    const exp = r.token ? tokenInfo(r.token)?.exp : null;
    // A guest can pass on the link they joined with (same token, same expiry); never an App Sign.
    const invite =
      r.token && exp != null
        ? { link: buildInvite({ server: r.server, app_id: r.app_id, room: r.room, token: r.token, fp: r.pin }), token: r.token, expires_at: exp }
        : null;
    const params: JoinParams = { profile, room_id: r.room, user: this.user() };
    if (r.token) params.token = r.token;
    this.d.join(params, { server: r.server, addresses: [r.server], app_id: r.app_id, room: r.room, fingerprint: r.pin || null, invite, debug_page_url: null });
  }
}

function fillSelect(sel: HTMLSelectElement, options: Option[], value: string): void {
  const same = sel.options.length === options.length && options.every((o, i) => sel.options[i]!.value === o.value && sel.options[i]!.text === o.label);
  if (!same) sel.replaceChildren(...options.map((o) => h("option", { value: o.value }, o.label)));
  if (sel.value !== value) sel.value = value;
}
