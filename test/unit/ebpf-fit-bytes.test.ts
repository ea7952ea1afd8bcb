/**
 * dataplane/ebpf-entries.ts fitInto / fitBytes: P4Runtime bytestrings (canonical or not) widened
 * to a field's byte width, and refused when they do not fit its bit width.
 */
import { describe, expect, it } from 'vitest';
import { fitBytes, fitInto } from '../../dataplane/ebpf-entries.js';

const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);

describe('fitBytes / fitInto', () => {
  it('widens a canonical (shortest) value with leading zeros', () => {
    expect(fitBytes(b(0x01, 0xff), 32, 4, 'x').toString('hex')).toBe('000001ff');
    expect(fitBytes(b(0x05), 9, 2, 'port').toString('hex')).toBe('0005');
  });

  it('accepts leading zeros beyond the width (non-canonical), and a full-width value', () => {
    expect(fitBytes(b(0, 0, 0, 0, 0x0a, 0, 0, 1), 32, 4, 'ip').toString('hex')).toBe('0a000001');
    expect(fitBytes(b(0xde, 0xad, 0xbe, 0xef), 32, 4, 'ip').toString('hex')).toBe('deadbeef');
  });

  it('refuses values longer than the width, bits above the bit width, and empty bytestrings, naming the value', () => {
    expect(() => fitBytes(b(1, 0, 0, 0, 0), 32, 4, 'table t field f')).toThrow(/table t field f: 5 bytes do not fit 32 bits/);
    expect(() => fitBytes(b(0x02, 0x00), 9, 2, 'port')).toThrow(/port: value 0x0200 does not fit 9 bits/);
    expect(() => fitBytes(b(), 16, 2, () => 'lazy name')).toThrow(/lazy name: empty bytestring/);
    expect(fitBytes(b(0x01, 0xff), 9, 2, 'port').toString('hex')).toBe('01ff');
  });

  it('writes in place at an offset, clearing the widened bytes, touching nothing else', () => {
    const out = Buffer.alloc(8, 0xee);
    fitInto(out, 2, b(0x12, 0x34), 32, 4, 'x');
    expect(out.toString('hex')).toBe('eeee00001234eeee');
  });
});
