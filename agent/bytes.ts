/**
 * Deterministic test bytes for `GET /bytes/<n>?seed=<s>`, reproducible by any client:
 *
 *   state = seed (a uint32; 0 is replaced by 0x9e3779b9)
 *   for each 4-byte word i = 0, 1, ...:
 *     state ^= state << 13; state ^= state >>> 17; state ^= state << 5   (xorshift32, mod 2^32)
 *     word i = state, written little-endian
 *   the body is the first n bytes of that stream.
 */
import { createHash } from 'node:crypto';

export const DEFAULT_SEED = 1;
const ZERO_SEED_REPLACEMENT = 0x9e3779b9;

/** Generates the stream in chunks; `chunk(offset, length)` returns bytes [offset, offset+length). */
export class ByteStream {
  #state: number;
  #produced = 0;

  constructor(seed: number = DEFAULT_SEED) {
    this.#state = seed >>> 0 || ZERO_SEED_REPLACEMENT;
  }

  /** The next `length` bytes (length a multiple of 4, except possibly the last chunk). */
  next(length: number): Buffer {
    const words = Math.ceil(length / 4);
    const out = Buffer.allocUnsafe(words * 4);
    let s = this.#state;
    for (let i = 0; i < words; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      out.writeUInt32LE(s, i * 4);
    }
    this.#state = s;
    this.#produced += length;
    return length === out.length ? out : out.subarray(0, length);
  }
}

/** The whole body for n bytes (for tests and small sizes). */
export function deterministicBytes(n: number, seed: number = DEFAULT_SEED): Buffer {
  return new ByteStream(seed).next(n);
}

/** SHA-256 (hex) of the body for n bytes, computed in chunks without holding it all. */
export function deterministicSha256(n: number, seed: number = DEFAULT_SEED): string {
  const h = createHash('sha256');
  const s = new ByteStream(seed);
  const CHUNK = 1 << 20;
  for (let left = n; left > 0; left -= CHUNK) h.update(s.next(Math.min(CHUNK, left)));
  return h.digest('hex');
}
