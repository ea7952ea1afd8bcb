/** The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words. */

/** One's-complement sum of `buf` folded to 16 bits, added to `initial` (not inverted). */
export function onesComplementSum(buf: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = buf.length;
  for (let i = 0; i + 1 < n; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (n % 2 === 1) sum += buf[n - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for `buf` (with its checksum field zeroed). */
export function internetChecksum(buf: Uint8Array, initial = 0): number {
  return ~onesComplementSum(buf, initial) & 0xffff;
}

/** Sum of the TCP/UDP pseudo-header (RFC 9293 section 3.1): src, dst, zero, protocol, length. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  const ph = new Uint8Array(12);
  ph.set(src, 0);
  ph.set(dst, 4);
  ph[9] = protocol;
  ph[10] = (length >>> 8) & 0xff;
  ph[11] = length & 0xff;
  return onesComplementSum(ph);
}
