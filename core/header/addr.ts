/** IPv4 and MAC address text ↔ bytes. Bad input throws InvalidArgumentError naming the value. */
import { InvalidArgumentError } from '../errors.js';

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipv4ToNumber(ip: string): number {
  const m = DOTTED.exec(ip);
  if (m) {
    const a = +m[1]!, b = +m[2]!, c = +m[3]!, d = +m[4]!;
    if (a <= 255 && b <= 255 && c <= 255 && d <= 255) return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  }
  throw new InvalidArgumentError(`not an IPv4 address: ${JSON.stringify(ip)}`);
}

/** A 32-bit address (host order number) as dotted text. */
export function numberToIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function ipv4ToBytes(ip: string): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(ipv4ToNumber(ip), 0);
  return out;
}

export function bytesToIpv4(b: Uint8Array): string {
  if (b.length !== 4) throw new InvalidArgumentError(`an IPv4 address is 4 bytes, got ${b.length}`);
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

const COLONED = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

export function macToBytes(mac: string): Buffer {
  if (!COLONED.test(mac)) throw new InvalidArgumentError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

export function bytesToMac(b: Uint8Array): string {
  if (b.length !== 6) throw new InvalidArgumentError(`a MAC address is 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
