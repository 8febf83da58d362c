// Boot: subscribe to events before anything can emit them, load settings and
// themes, then wire the store, the session, the surface tracker and the two
// screens together. Nothing slow comes before the home screen's first frame.

import { api, listenAll, newChannel, normaliseError } from "./tauri.js";
import { createCallStore } from "./state.js";
import { CallSession, PREVIEW_TILE } from "./session.js";
import { normalizeSettings, SettingsSaver } from "./settings.js";
import { Devices } from "./devices.js";
import { applyLastTheme, applyTheme, injectUserTheme } from "./theme.js";
import { attachCanvas, SurfaceTracker } from "./tiles.js";
import { LayerCaps } from "./layer-caps.js";
import { Toasts } from "./ui/toasts.js";
import { HomeScreen } from "./screens/home.js";
import { CallScreen } from "./screens/call.js";
import type { Diagnostics, Settings } from "./types.js";
import { $ } from "./ui/dom.js";
import { startUpdates } from "./update.js";
import { SoundLevels } from "./levels.js";
import { ShareController } from "./share.js";

async function boot(): Promise<void> {
  const store = createCallStore();
  const session = new CallSession(api, store);
  const live = $("#live");
  const levels = new SoundLevels(api, store);
  const share = new ShareController(api, store);
  session.beforeLeave = () => share.stop();

  // The home form is in the HTML and paints at once; boot only waits for what
  // filling it needs: the listeners (registered before anything can emit:
  // the seed's "register callbacks before login") and the settings, asked for
  // together. Diagnostics, the version, the user theme and the device list
  // arrive when they arrive; the preview engine starts after the form shows.
  const listening = listenAll((e) => {
    store.dispatch(e);
    session.onEvent(e);
    levels.onEvent(e);
    share.onEvent(e);
  }).catch((e) => store.dispatch({ event: "app/error", error: normaliseError(e), title: "Not connected to the app" }));
  const loading = api.loadSettings().then(normalizeSettings, (e) => {
    store.dispatch({ event: "app/error", error: normaliseError(e), title: "Settings could not be loaded; using defaults" });
    return normalizeSettings({});
  });
  api.userTheme().then(injectUserTheme, () => {});

  let diagnostics: Diagnostics | null = null;
  const fetchDiagnostics = async (): Promise<Diagnostics | null> => {
    try {
      diagnostics = await api.diagnostics();
    } catch {
      /* keep the last known */
    }
    return diagnostics;
  };
  const firstDiagnostics = fetchDiagnostics();
  let version = "";
  const versionKnown = api.appInfo().then(
    (info) => {
      version = info.version;
    },
    () => {
      /* shown as "Confer" */
    },
  );

  const [, loaded] = await Promise.all([listening, loading]);
  let settings: Settings = loaded;
  applyTheme(settings.theme);

  const saver = new SettingsSaver(api.saveSettings, (e) =>
    store.dispatch({ event: "app/error", error: normaliseError(e), title: "Settings could not be saved" }),
  );
  const update = (s: Settings): void => {
    settings = s;
    saver.queue(s);
  };
  window.addEventListener("pagehide", () => void saver.flush());

  const devices = new Devices(api, () => settings, update, (error, title) => store.dispatch({ event: "app/error", error, title }));
  session.mediaSetup = (a) => devices.setup(a);
  // list_devices works without an engine: fill the pickers at once.
  void devices.refresh();

  let trackerFailed = false;
  // Each played stream asks for the simulcast layer its tile's size is worth; a refusal
  // (a play not started yet) is asked again at the next measure.
  const layers = new LayerCaps(
    (stream_id, layer) =>
      api.setPlayStreamVideoLayer(stream_id, layer).then(() => store.dispatch({ event: "app/layer", stream_id, layer })),
    (streamId, layer, e) => console.debug(`confer: layer ${layer} for ${streamId} not taken`, normaliseError(e)),
  );
  const tracker = new SurfaceTracker(
    api,
    (e) => {
      if (trackerFailed) return;
      trackerFailed = true;
      store.dispatch({ event: "app/error", error: normaliseError(e), title: "Video placement failed" });
    },
    document.body,
    (sizes) => layers.update(sizes),
  );
  tracker.start();

  // The render path is known once the first diagnostics answer (it never changes).
  const onTileCreated = (video: HTMLElement, tileId: string): void => {
    void firstDiagnostics.then(() => {
      if (diagnostics?.render_path !== "canvas" || !video.isConnected) return;
      attachCanvas(api, newChannel, video, tileId).catch((e) =>
        store.dispatch({ event: "app/error", error: normaliseError(e), title: "Video can't be shown" }),
      );
    });
  };

  const toasts = new Toasts(store);

  // Announce joins, leaves and chat to screen readers.
  store.subscribe((s, prev) => {
    if (s.announcement && s.announcement !== prev.announcement) live.textContent = s.announcement.text;
  });

  const call = new CallScreen({
    store,
    session,
    devices,
    settings: () => settings,
    diagnostics: fetchDiagnostics,
    version: () => version,
    onTileCreated,
    levels,
    share,
  });

  const home = new HomeScreen({
    store,
    session,
    devices,
    settings: () => settings,
    update,
    version: () => version,
    levels,
    join: (params, invite) => {
      void saver.flush();
      home.hide();
      const joined = session.join(params);
      call.show(invite);
      toasts.render();
      void joined.then(() => fetchDiagnostics());
    },
  });

  // After leaving (or the embedded server stopping: HostStopped already left a toast).
  session.onLeft = () => {
    call.hide();
    home.show();
    toasts.render();
  };

  const previewVideo = document.querySelector<HTMLElement>(`.tile-video[data-tile-id="${PREVIEW_TILE}"]`);
  if (previewVideo) onTileCreated(previewVideo, PREVIEW_TILE);

  home.show();
  toasts.render();
  void versionKnown.then(() => home.renderVersion());
  startUpdates(versionKnown.then(() => version));
}

applyLastTheme();
void boot();
