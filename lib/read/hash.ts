/** A 52-bit hash of a string (two 32-bit FNV-1a hashes with murmur3's finaliser), exact in a double. */
export function hashString(text: string): number {
  return hashRange(text, 0, text.length);
}

/** {@link hashString} of `text.slice(start, end)`, without making the slice. */
function hashRange(text: string, start: number, end: number): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (finalise(a) >>> 0) * 0x100000 + (finalise(b) >>> 12);
}

/** {@link hashString} of the bytes from `start` to `end` (for ASCII, the same as of the text they spell). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (finalise(a) >>> 0) * 0x100000 + (finalise(b) >>> 12);
}

/** The hash of the UTF-8 bytes of `text`: {@link hashBytes} of it as written in a log. */
export function hashUtf8(text: string): number {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(text)) return hashString(text);
  const bytes = Buffer.from(text, 'utf8');
  return hashBytes(bytes, 0, bytes.length);
}

/** `hash` mixed with `salt` (a hash too): another uniform 52-bit hash, so one key gets independent hashes per use. */
export function saltedHash(hash: number, salt: number): number {
  const high = finalise((Math.floor(hash / 0x100000) ^ Math.floor(salt / 0x100000)) | 0);
  const low = finalise(((hash % 0x100000) ^ (salt % 0x100000) ^ high) | 0);
  return (high >>> 0) * 0x100000 + (low >>> 12);
}

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability about 1/2. */
function finalise(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
