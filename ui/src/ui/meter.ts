// The mic level meters' DOM: the home screen's 8-step meter beside the
// microphone picker (role="meter") and the level bars on the call's mic
// button (aria-hidden: the button's label says the mic is on).

import { meterSteps, METER_STEPS } from "../speaking.js";

/** Lights the first N `<i>` steps of `#mic-meter` and keeps its ARIA values current. */
export function renderMeter(el: HTMLElement, level: number): void {
  const steps = meterSteps(level, METER_STEPS);
  if (el.dataset.steps === String(steps)) return;
  el.dataset.steps = String(steps);
  el.setAttribute("aria-valuenow", String(Math.round((steps / METER_STEPS) * 100)));
  el.setAttribute("aria-valuetext", steps === 0 ? "Silent" : `Level ${steps} of ${METER_STEPS}`);
  el.querySelectorAll("i").forEach((step, i) => step.classList.toggle("on", i < steps));
}

/** The mic button's bars follow the level through `--level` (0..1, in steps of 1/8 so they do not jitter). */
export function renderButtonLevel(button: HTMLElement, level: number): void {
  const value = String(meterSteps(level, METER_STEPS) / METER_STEPS);
  if (button.style.getPropertyValue("--level") !== value) button.style.setProperty("--level", value);
}
