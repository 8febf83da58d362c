import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, parseFrame, toBytes } from "../src/canvas-frame.js";

describe("canvas fallback frames [u32 LE w, u32 LE h, rgba]", () => {
  it("parses width, height and the pixels", () => {
    const rgba = new Uint8Array([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255, 13, 14, 15, 255, 16, 17, 18, 255]);
    const f = parseFrame(encodeFrame(3, 2, rgba));
    assert.equal(f?.width, 3);
    assert.equal(f?.height, 2);
    assert.deepEqual([...f!.pixels], [...rgba]);
  });

  it("reads the header little-endian", () => {
    const buf = new Uint8Array(8 + 300 * 2 * 4);
    buf.set([0x2c, 0x01, 0, 0, 2, 0, 0, 0]); // 300, 2
    const f = parseFrame(buf.buffer);
    assert.deepEqual([f?.width, f?.height], [300, 2]);
  });

  it("rejects short, empty or truncated messages", () => {
    assert.equal(parseFrame(new ArrayBuffer(4)), null);
    assert.equal(parseFrame(encodeFrame(0, 0, new Uint8Array(0))), null);
    const truncated = encodeFrame(2, 2, new Uint8Array(16)).slice(0, 8 + 15);
    assert.equal(parseFrame(truncated), null);
    assert.equal(parseFrame("nope"), null);
  });

  it("accepts typed arrays and plain number arrays (JSON-delivered channels)", () => {
    const buf = encodeFrame(1, 1, new Uint8Array([9, 8, 7, 6]));
    const asArray = [...new Uint8Array(buf)];
    assert.deepEqual([...parseFrame(asArray)!.pixels], [9, 8, 7, 6]);
    const padded = new Uint8Array(buf.byteLength + 4);
    padded.set(new Uint8Array(buf), 4);
    assert.deepEqual([...parseFrame(padded.subarray(4))!.pixels], [9, 8, 7, 6]);
    assert.equal(toBytes({}), null);
  });
});
