/**
 * The native wrapper's error mapping and addon lookup; needs neither root nor the built addon.
 */
import { describe, expect, it } from 'vitest';
import { BpfError, PrismError } from '../../core/errors.js';
import { addonPath, toBpfError } from '../../native/index.js';

describe('native/index.ts error edge', () => {
  it('turns an addon errno error into a BpfError', () => {
    const raw = Object.assign(new Error('bpf_map_update_elem: File exists (EEXIST)'), {
      code: 'EEXIST',
      errno: 17,
      syscall: 'bpf_map_update_elem',
    });
    const e = toBpfError(raw);
    expect(e).toBeInstanceOf(BpfError);
    expect(e).toBeInstanceOf(PrismError);
    const be = e as BpfError;
    expect(be.code).toBe('PRISM_ERR_BPF');
    expect(be.errno).toBe(17);
    expect(be.errnoName).toBe('EEXIST');
    expect(be.op).toBe('bpf_map_update_elem');
    expect(be.message).toBe(raw.message);
    expect(be.cause).toBe(raw);
    expect(be.name).toBe('BpfError');
  });

  it('passes argument errors and foreign values through unchanged', () => {
    const te = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' });
    const re = Object.assign(new RangeError('bad'), { code: 'ERR_OUT_OF_RANGE' });
    expect(toBpfError(te)).toBe(te);
    expect(toBpfError(re)).toBe(re);
    expect(toBpfError('x')).toBe('x');
    const noSyscall = Object.assign(new Error('x'), { code: 'ENOENT', errno: 2 });
    expect(toBpfError(noSyscall)).toBe(noSyscall);
  });

  it('addonPath honours PRISM_BPF_ADDON and otherwise looks for native/build/Release', () => {
    const saved = process.env.PRISM_BPF_ADDON;
    try {
      process.env.PRISM_BPF_ADDON = '/nonexistent/prism_bpf.node';
      expect(addonPath()).toBeNull();
      delete process.env.PRISM_BPF_ADDON;
      const p = addonPath();
      if (p !== null) expect(p).toMatch(/native\/build\/Release\/prism_bpf\.node$/);
    } finally {
      if (saved === undefined) delete process.env.PRISM_BPF_ADDON;
      else process.env.PRISM_BPF_ADDON = saved;
    }
  });
});
