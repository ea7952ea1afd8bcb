/** p4_device_config builders for the embedded, BMv2 and Tofino targets (formats: docs/p4runtime-client.md). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.js';
import {
  bmv2DeviceConfig,
  buildDeviceConfig,
  decodeBfPipelineConfig,
  decodeTofinoPiConfig,
  embeddedDeviceConfig,
  readTofinoBuild,
  tofinoDeviceConfig,
} from '../../controller/p4rt/device-config.js';

const BPF_OBJECT = join(import.meta.dirname, '../../build/ebpf/prism.bpf.o');

/** A minimal ELF header: magic, 64-bit, little-endian, e_machine at offset 18. */
function elfHeader(machine: number): Buffer {
  const b = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b);
  b.writeUInt16LE(machine, 18);
  return b;
}

describe('embedded device config', () => {
  it('is the eBPF object as is', () => {
    const elf = elfHeader(247);
    expect(embeddedDeviceConfig(elf)).toEqual(elf);
    expect(buildDeviceConfig({ target: 'embedded', elf })).toEqual(elf);
  });

  it.skipIf(!existsSync(BPF_OBJECT))('accepts the built prism eBPF object', () => {
    const obj = readFileSync(BPF_OBJECT);
    expect(embeddedDeviceConfig(obj).equals(obj)).toBe(true);
  });

  it('refuses what is not an eBPF ELF object', () => {
    expect(() => embeddedDeviceConfig(Buffer.from('{"pipelines":[]}'))).toThrow(/not an ELF object/);
    expect(() => embeddedDeviceConfig(elfHeader(62))).toThrow(/machine 62, not eBPF/);
  });
});

describe('BMv2 device config', () => {
  it('is the p4c JSON as is', () => {
    const json = '{"program":"prism.p4","pipelines":[{"name":"ingress"}]}';
    expect(bmv2DeviceConfig(json).toString()).toBe(json);
    expect(bmv2DeviceConfig(Buffer.from(json)).toString()).toBe(json);
  });

  it('refuses non-JSON and JSON that is not BMv2 output', () => {
    expect(() => bmv2DeviceConfig('not json')).toThrow(InvalidArgumentError);
    expect(() => bmv2DeviceConfig('{"tables":[]}')).toThrow(/no "pipelines" array/);
  });
});

describe('Tofino device config', () => {
  const build = {
    programName: 'prism',
    binary: Buffer.from('TOFINO-BIN-BYTES'),
    context: Buffer.from('{"program_name":"prism"}'),
    bfrt: Buffer.from('{"tables":[]}'),
  };

  it("packs the 'pi' format: LE32 length + bytes for name, tofino.bin, context.json", () => {
    const b = tofinoDeviceConfig(build, 'pi');
    const expected = Buffer.concat([
      Buffer.from([5, 0, 0, 0]),
      Buffer.from('prism'),
      Buffer.from([16, 0, 0, 0]),
      build.binary,
      Buffer.from([24, 0, 0, 0]),
      build.context,
    ]);
    expect(b).toEqual(expected);
    expect(decodeTofinoPiConfig(b)).toEqual({ programName: 'prism', binary: build.binary, context: build.context });
    expect(() => decodeTofinoPiConfig(b.subarray(0, b.length - 1))).toThrow(/context.json claims 24 bytes/);
    expect(() => decodeTofinoPiConfig(Buffer.concat([b, Buffer.from([0])]))).toThrow(/1 bytes after/);
  });

  it("encodes the 'stratum' format as a BfPipelineConfig protobuf", () => {
    const b = tofinoDeviceConfig({ ...build, pipeScope: [0, 1] });
    // Field 1 (p4_name, length-delimited): tag 0x0a, length 5, "prism".
    expect(b.subarray(0, 7)).toEqual(Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from('prism')]));
    // Field 2 (bfruntime_info): tag 0x12.
    expect(b[7]).toBe(0x12);
    expect(decodeBfPipelineConfig(b)).toEqual({
      p4Name: 'prism',
      bfruntimeInfo: build.bfrt,
      profiles: [{ profileName: 'pipe', context: build.context, binary: build.binary, pipeScope: [0, 1] }],
    });
    expect(buildDeviceConfig({ target: 'tofino', build })).toEqual(tofinoDeviceConfig(build, 'stratum'));
  });

  it('needs bf-rt.json for the stratum format and non-empty parts', () => {
    const { bfrt: _omit, ...noBfrt } = build;
    expect(() => tofinoDeviceConfig(noBfrt)).toThrow(/needs bf-rt.json/);
    expect(tofinoDeviceConfig(noBfrt, 'pi').length).toBeGreaterThan(0);
    expect(() => tofinoDeviceConfig({ ...build, binary: Buffer.alloc(0) })).toThrow(/binary/);
  });

  it('reads a bf-p4c output directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prism-tofino-'));
    try {
      mkdirSync(join(dir, 'pipe'));
      writeFileSync(join(dir, 'pipe', 'tofino.bin'), build.binary);
      writeFileSync(join(dir, 'pipe', 'context.json'), build.context);
      writeFileSync(join(dir, 'bf-rt.json'), build.bfrt);
      const read = readTofinoBuild(dir, 'prism');
      expect(tofinoDeviceConfig(read)).toEqual(tofinoDeviceConfig(build));
      rmSync(join(dir, 'pipe', 'context.json'));
      expect(() => readTofinoBuild(dir, 'prism')).toThrow(/no context.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
