/** IPv4 and MAC address text ↔ bytes. Bad input throws InvalidArgumentError naming the value. */
import { InvalidArgumentError } from '../errors.js';

export function ipv4ToBytes(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new InvalidArgumentError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return Buffer.from(parts.map(Number));
}

export function bytesToIpv4(b: Uint8Array): string {
  if (b.length !== 4) throw new InvalidArgumentError(`an IPv4 address is 4 bytes, got ${b.length}`);
  return Array.from(b).join('.');
}

export function ipv4ToNumber(ip: string): number {
  return ipv4ToBytes(ip).readUInt32BE(0);
}

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new InvalidArgumentError(`not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bytesToMac(b: Uint8Array): string {
  if (b.length !== 6) throw new InvalidArgumentError(`a MAC address is 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
