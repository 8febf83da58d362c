// /web/pattern.html: the barcode test pattern filling the window, something
// to share (a tab, a window, a whole screen) whose frames a player can
// number: the barcode's blocks are sized for the window's width, so a
// capture of exactly the window reads back (the screen-share browser tests
// share it; by hand, share it and watch the player's frame numbers).
// `?label=` names it in the picture, `?fps=` sets the redraw rate (30),
// `?size=WxH` the canvas size when it must match a capture's size exactly
// (a kiosk window can be a pixel smaller than the screen it fills).

import { TestPattern } from "./testsource.js";

const params = new URLSearchParams(location.search);
const [width, height] = (params.get("size") ?? "").split("x").map(Number);
const pattern = new TestPattern({
  width: (width || window.innerWidth) & ~1,
  height: (height || window.innerHeight) & ~1,
  fps: Number(params.get("fps")) || 30,
  label: params.get("label") ?? "shared screen",
});
document.body.append(pattern.canvas);
/** For tests: the number of the frame drawn last. */
(window as unknown as { patternFrame: () => number }).patternFrame = () => pattern.frameNumber - 1;
document.body.dataset.ready = "1";
