// Portable base64 for Node and browsers. Decoding is strict: the protocol
// says binary fields are standard base64 with padding, so anything else is
// malformed input rather than something to be guessed at.

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const hasBuffer = typeof (globalThis as { Buffer?: unknown }).Buffer === "function";

export function isBase64(s: string): boolean {
  return B64_RE.test(s);
}

export function toBase64(bytes: Uint8Array): string {
  if (hasBuffer) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Returns null for anything that is not canonical padded base64. */
export function fromBase64(s: string): Uint8Array<ArrayBuffer> | null {
  if (!B64_RE.test(s)) return null;
  if (hasBuffer) {
    const b = Buffer.from(s, "base64");
    return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s);
}
