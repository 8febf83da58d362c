// The page's barcode module (server/web/src/barcode.ts, compiled by
// `make web`) against media-core's format: payload bytes, CRC, drawing and
// reading back through an RGBA canvas buffer. No browser needed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "./harness.mjs";

const barcode = await import(pathToFileURL(join(root, "server", "web", "dist", "js", "barcode.js")).href);

test("crc is CRC-16/CCITT-FALSE", () => {
  assert.equal(barcode.crc16(new TextEncoder().encode("123456789")), 0x29b1);
});

test("payload layout matches media-core (frame BE, 48-bit time BE, CRC BE)", () => {
  const stamp = { frameNumber: 0xdeadbeef, captureTimeUs: 1_764_000_000_123_456 };
  const hex = Buffer.from(barcode.encodePayload(stamp)).toString("hex");
  // Computed from the format in media-core/src/capture/barcode.rs.
  assert.equal(hex, "deadbeef4459416422408d72");
  assert.deepEqual(barcode.decodePayload(barcode.encodePayload(stamp), stamp.captureTimeUs + 5e6), stamp);
});

test("time is restored near the reference across a 2^48 boundary", () => {
  const t = 1_764_000_000_000_000;
  const low = t % 2 ** 48;
  assert.equal(barcode.restoreTime(low, t + 5_000_000), t);
  assert.equal(barcode.restoreTime(low, t - 5_000_000), t);
  const edge = t - (t % 2 ** 48) + 2 ** 48 - 10;
  assert.equal(barcode.restoreTime((edge + 100) % 2 ** 48, edge), edge + 100);
});

/** A painter over an RGBA buffer, like a 2D canvas. */
function rgbaCanvas(width, height) {
  const data = new Uint8ClampedArray(width * height * 4).fill(128);
  return {
    data,
    fillStyle: "#000000",
    fillRect(x, y, w, h) {
      const v = this.fillStyle === "#ffffff" ? 255 : 0;
      for (let yy = y; yy < y + h; yy++)
        for (let xx = x; xx < x + w; xx++) data.set([v, v, v, 255], (yy * width + xx) * 4);
    },
  };
}

test("draw then read round-trips, a damaged block fails the CRC", () => {
  for (const [w, h] of [[640, 360], [320, 180], [1280, 720]]) {
    const c = rgbaCanvas(w, h);
    const stamp = { frameNumber: 1234567, captureTimeUs: 1_795_000_000_654_321 };
    barcode.draw(c, w, h, stamp);
    assert.deepEqual(barcode.read(c.data, w, h, stamp.captureTimeUs), stamp, `${w}x${h}`);
    const b = barcode.blockSize(w);
    for (let y = 0; y < b; y++) for (let x = 0; x < b; x++) {
      const o = (y * w + x) * 4;
      c.data[o] = c.data[o + 1] = c.data[o + 2] = 255 - c.data[o];
    }
    assert.equal(barcode.read(c.data, w, h, stamp.captureTimeUs), null);
  }
  assert.equal(barcode.blockSize(32), null);
  assert.equal(barcode.read(new Uint8ClampedArray(32 * 32 * 4), 32, 32, 0), null);
});
