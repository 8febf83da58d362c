// The frame stamp of media-core's synthetic video source (see
// media-core/src/capture/barcode.rs, "Format (version 1)"), ported to the
// browser: the page's canvas test pattern draws it, and the page (and the
// browser tests) read it back from a canvas copy of a playing <video>.
//
// 96 bits = 12 bytes (frame number u32 BE, capture time in Unix µs mod 2^48
// BE, CRC-16/CCITT-FALSE of the first 10 bytes BE), drawn as 32 columns x 3
// rows of square blocks of side floor(width / 32) from the top-left pixel,
// bit i at row floor(i/32), column i%32, MSB of byte 0 first; 1 = white
// (Y 235), 0 = black (Y 16). A reader averages the luma of each block's
// inner square (b/4 .. b - b/4) and compares it with mid-gray (Y 128).

/** What the band carries. */
export interface Stamp {
  /** Frame number (wraps at 2^32). */
  frameNumber: number;
  /** Capture time, Unix microseconds (only the low 48 bits travel). */
  captureTimeUs: number;
}

export const COLUMNS = 32;
export const ROWS = 3;
const PAYLOAD_BYTES = 12;
const TIME_PERIOD = 2 ** 48;

/** Block side for a frame width, or null when the frame is too narrow. */
export function blockSize(width: number): number | null {
  const b = Math.floor(width / COLUMNS);
  return b >= 2 ? b : null;
}

/** Height of the band for a frame width (0 when there is none). */
export function bandHeight(width: number): number {
  const b = blockSize(width);
  return b === null ? 0 : b * ROWS;
}

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF). */
export function crc16(data: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** The 12 payload bytes of a stamp. */
export function encodePayload(stamp: Stamp): Uint8Array {
  const p = new Uint8Array(PAYLOAD_BYTES);
  const n = stamp.frameNumber >>> 0;
  p[0] = n >>> 24;
  p[1] = (n >>> 16) & 0xff;
  p[2] = (n >>> 8) & 0xff;
  p[3] = n & 0xff;
  let t = ((Math.round(stamp.captureTimeUs) % TIME_PERIOD) + TIME_PERIOD) % TIME_PERIOD;
  for (let i = 9; i >= 4; i--) {
    p[i] = t % 256;
    t = Math.floor(t / 256);
  }
  const crc = crc16(p.subarray(0, 10));
  p[10] = crc >>> 8;
  p[11] = crc & 0xff;
  return p;
}

/** Decodes 12 payload bytes; null when the CRC does not match. */
export function decodePayload(p: Uint8Array, referenceUs: number): Stamp | null {
  if (p.length !== PAYLOAD_BYTES) return null;
  const crc = (p[10]! << 8) | p[11]!;
  if (crc16(p.subarray(0, 10)) !== crc) return null;
  const frameNumber = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
  let low = 0;
  for (let i = 4; i < 10; i++) low = low * 256 + p[i]!;
  return { frameNumber, captureTimeUs: restoreTime(low, referenceUs) };
}

/** The value with these low 48 bits nearest to `reference`. */
export function restoreTime(low: number, reference: number): number {
  const base = reference - (reference % TIME_PERIOD);
  let best = low;
  for (const b of [base - TIME_PERIOD, base, base + TIME_PERIOD]) {
    if (b < 0) continue;
    const c = b + low;
    if (Math.abs(c - reference) < Math.abs(best - reference)) best = c;
  }
  return best;
}

/** The part of CanvasRenderingContext2D the drawer uses. */
export interface Painter {
  fillStyle: string | CanvasGradient | CanvasPattern;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/**
 * Paints the stamp into the top of a `width` x `height` canvas. White and
 * black RGB become Y 235 and Y 16 in the encoder's limited-range I420.
 * Frames too small for the band are left unchanged.
 */
export function draw(ctx: Painter, width: number, height: number, stamp: Stamp): void {
  const b = blockSize(width);
  if (b === null || ROWS * b > height) return;
  const payload = encodePayload(stamp);
  for (let i = 0; i < ROWS * COLUMNS; i++) {
    const bit = (payload[i >> 3]! >> (7 - (i & 7))) & 1;
    ctx.fillStyle = bit ? "#ffffff" : "#000000";
    ctx.fillRect((i % COLUMNS) * b, Math.floor(i / COLUMNS) * b, b, b);
  }
}

/**
 * Reads the stamp from RGBA pixels (an ImageData of a `width`-wide frame
 * holding at least the band's rows), restoring the capture time nearest to
 * `referenceUs`. Null when there is no valid stamp.
 */
export function read(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
  referenceUs: number,
): Stamp | null {
  const b = blockSize(width);
  if (b === null || ROWS * b > height || rgba.length < width * ROWS * b * 4) return null;
  const lo = Math.floor(b / 4);
  const hi = b - lo;
  const payload = new Uint8Array(PAYLOAD_BYTES);
  for (let i = 0; i < ROWS * COLUMNS; i++) {
    const row = Math.floor(i / COLUMNS);
    const col = i % COLUMNS;
    let sum = 0;
    let count = 0;
    for (let y = row * b + lo; y < row * b + hi; y++) {
      let o = (y * width + col * b + lo) * 4;
      for (let x = lo; x < hi; x++, o += 4) {
        // Full-range RGB back to limited-range luma (BT.601).
        const full = 0.299 * rgba[o]! + 0.587 * rgba[o + 1]! + 0.114 * rgba[o + 2]!;
        sum += 16 + (full * 219) / 255;
        count++;
      }
    }
    if (sum >= 128 * count) payload[i >> 3] |= 1 << (7 - (i & 7));
  }
  return decodePayload(payload, referenceUs);
}

/** Unix time in microseconds from the page's high-resolution clock. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
