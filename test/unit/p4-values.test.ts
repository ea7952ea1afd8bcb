/**
 * core/p4-values.ts and core/header/addr.ts: the fast paths (numbers up to 48 bits, IPv4 and MAC
 * text) give exactly the bytes of the general bigint path, and refuse what it refuses.
 */
import { describe, expect, it } from 'vitest';
import { bytesToIpv4, ipv4ToBytes, ipv4ToNumber, numberToIpv4 } from '../../core/header/addr.js';
import { canonicalBytes, toFieldBytes } from '../../core/p4-values.js';

/** The general path, spelled out: `value` as a bigint, big-endian in ceil(bits/8) bytes. */
function reference(value: bigint, bits: number): Buffer {
  const n = Math.ceil(bits / 8);
  return Buffer.from(value.toString(16).padStart(n * 2, '0'), 'hex');
}

describe('toFieldBytes', () => {
  it('numbers of every width up to 48 bits: the same bytes as the bigint path', () => {
    for (let bits = 1; bits <= 48; bits++) {
      const max = 2 ** bits - 1;
      for (const v of [0, 1, Math.floor(max / 3), max]) {
        expect(toFieldBytes(v, bits), `${v} in ${bits} bits`).toEqual(reference(BigInt(v), bits));
        expect(toFieldBytes(v, bits)).toEqual(toFieldBytes(BigInt(v), bits));
      }
      expect(() => toFieldBytes(max + 1, bits)).toThrow(/does not fit/);
    }
  });

  it('numbers in fields wider than 48 bits, negative or fractional numbers', () => {
    expect(toFieldBytes(5, 64)).toEqual(reference(5n, 64));
    expect(toFieldBytes(2 ** 40, 128)).toEqual(reference(2n ** 40n, 128));
    expect(() => toFieldBytes(-1, 16)).toThrow(/not a non-negative integer/);
    expect(() => toFieldBytes(1.5, 16)).toThrow(/not a non-negative integer/);
  });

  it('IPv4 and MAC text in their own width and in wider fields; too narrow fields refuse them', () => {
    expect(toFieldBytes('10.0.0.1', 32)).toEqual(Buffer.from([10, 0, 0, 1]));
    expect(toFieldBytes('10.0.0.1', 48)).toEqual(Buffer.from([0, 0, 10, 0, 0, 1]));
    expect(toFieldBytes('02:00:00:00:00:fe', 48)).toEqual(Buffer.from([2, 0, 0, 0, 0, 0xfe]));
    expect(toFieldBytes('02:00:00:00:00:FE', 64)).toEqual(Buffer.from([0, 0, 2, 0, 0, 0, 0, 0xfe]));
    expect(() => toFieldBytes('10.0.0.1', 16)).toThrow(/does not fit 16 bits/);
    expect(toFieldBytes('0.0.0.7', 8)).toEqual(Buffer.from([7])); // fits: the value, not the text, counts
    expect(() => toFieldBytes('02:00:00:00:00:fe', 32)).toThrow(/does not fit/);
    expect(() => toFieldBytes('10.0.0.256', 32)).toThrow(/not an IPv4 address/);
    expect(() => toFieldBytes('nope', 32)).toThrow(/is not a number, IPv4 address or MAC address/);
  });

  it('canonical bytes drop leading zeros and keep one byte', () => {
    expect(canonicalBytes(toFieldBytes(80, 16))).toEqual(Buffer.from([80]));
    expect(canonicalBytes(toFieldBytes(0, 16))).toEqual(Buffer.from([0]));
  });
});

describe('IPv4 text', () => {
  it('to and from bytes and numbers', () => {
    expect(ipv4ToNumber('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToNumber('10.0.0.100')).toBe(0x0a000064);
    expect(ipv4ToBytes('192.168.1.2')).toEqual(Buffer.from([192, 168, 1, 2]));
    expect(bytesToIpv4(Buffer.from([192, 168, 1, 2]))).toBe('192.168.1.2');
    for (const ip of ['0.0.0.0', '10.0.0.100', '192.168.1.2', '255.255.255.255']) expect(numberToIpv4(ipv4ToNumber(ip))).toBe(ip);
    for (const bad of ['1.2.3', '1.2.3.4.5', '1.2.3.256', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', 'a.b.c.d', '1234.1.1.1']) {
      expect(() => ipv4ToNumber(bad), bad).toThrow(/not an IPv4 address/);
    }
    expect(() => bytesToIpv4(Buffer.from([1, 2, 3]))).toThrow(/4 bytes/);
  });
});
