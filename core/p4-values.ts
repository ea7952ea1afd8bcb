/**
 * Values for P4Runtime bytestrings (P4Runtime spec 8.4): from numbers, bigints, IPv4 and MAC
 * strings or bytes, to big-endian bytes of the field's width; and the canonical form (no leading
 * zero bytes, at least one byte) that P4Runtime servers accept and produce.
 */
import { InvalidArgumentError } from './errors.js';
import { ipv4ToBytes, ipv4ToNumber, macToBytes } from './header/addr.js';

export type P4Value = number | bigint | string | Uint8Array;

/** `value` as ceil(bits/8) big-endian bytes; throws when it does not fit `bits`. */
export function toFieldBytes(value: P4Value, bits: number, what = 'value'): Buffer {
  const n = Math.ceil(bits / 8);
  // The hot path (hand-off rules: ports, flags, IPv4 and MAC text) needs no bigint.
  // (allocUnsafe: small buffers come from Node's shared pool; every byte is written below.)
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && n >= 1 && n <= 6) {
    if (value >= 2 ** bits) throw new InvalidArgumentError(`${what}: ${value} does not fit ${bits} bits`);
    const out = Buffer.allocUnsafe(n);
    out.writeUIntBE(value, 0, n);
    return out;
  }
  if (typeof value === 'string' && bits >= 32 && IPV4.test(value)) {
    const out = Buffer.allocUnsafe(n).fill(0, 0, n - 4);
    out.writeUInt32BE(ipv4ToNumber(value), n - 4);
    return out;
  }
  if (typeof value === 'string' && bits >= 48 && MAC.test(value)) {
    const out = Buffer.allocUnsafe(n).fill(0, 0, n - 6);
    macToBytes(value).copy(out, n - 6);
    return out;
  }
  let big: bigint;
  if (value instanceof Uint8Array) {
    big = value.length === 0 ? 0n : BigInt(`0x${Buffer.from(value).toString('hex')}`);
  } else if (typeof value === 'string') {
    if (IPV4.test(value)) big = BigInt(ipv4ToBytes(value).readUInt32BE(0));
    else if (MAC.test(value)) big = BigInt(`0x${macToBytes(value).toString('hex')}`);
    else if (/^(0x[0-9a-fA-F]+|\d+)$/.test(value)) big = BigInt(value);
    else throw new InvalidArgumentError(`${what}: ${JSON.stringify(value)} is not a number, IPv4 address or MAC address`);
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${what}: ${value} is not a non-negative integer`);
    big = BigInt(value);
  } else {
    big = value;
  }
  if (big < 0n || big >= 1n << BigInt(bits)) throw new InvalidArgumentError(`${what}: ${String(value)} does not fit ${bits} bits`);
  const out = Buffer.alloc(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(big & 0xffn);
    big >>= 8n;
  }
  return out;
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** The canonical bytestring: leading zero bytes removed, at least one byte kept. */
export function canonicalBytes(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i));
}
