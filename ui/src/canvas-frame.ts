// The canvas fallback's frame format (docs/app-contract.md): each channel
// message is `u32 LE width, u32 LE height`, then width*height RGBA bytes.

export interface RgbaFrame {
  width: number;
  height: number;
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

export const FRAME_HEADER_BYTES = 8;

/** Anything a Tauri channel may hand over for binary data, as bytes. */
export function toBytes(message: unknown): Uint8Array | null {
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  if (Array.isArray(message)) return Uint8Array.from(message as number[]);
  return null;
}

/** Parses one frame message; null when it is malformed (short, or a size that does not match). */
export function parseFrame(message: unknown): RgbaFrame | null {
  const bytes = toBytes(message);
  if (!bytes || bytes.byteLength < FRAME_HEADER_BYTES || !(bytes.buffer instanceof ArrayBuffer)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(0, true);
  const height = view.getUint32(4, true);
  const need = width * height * 4;
  if (width === 0 || height === 0 || bytes.byteLength - FRAME_HEADER_BYTES < need) return null;
  const pixels = new Uint8ClampedArray(bytes.buffer as ArrayBuffer, bytes.byteOffset + FRAME_HEADER_BYTES, need);
  return { width, height, pixels };
}

/** Builds a frame message (used by tests and the dev mock). */
export function encodeFrame(width: number, height: number, rgba: Uint8Array | Uint8ClampedArray): ArrayBuffer {
  const buf = new ArrayBuffer(FRAME_HEADER_BYTES + rgba.byteLength);
  const view = new DataView(buf);
  view.setUint32(0, width, true);
  view.setUint32(4, height, true);
  new Uint8Array(buf, FRAME_HEADER_BYTES).set(rgba);
  return buf;
}
