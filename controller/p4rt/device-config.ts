/**
 * The `p4_device_config` bytes of ForwardingPipelineConfig for each switch target (P4Runtime spec
 * 14.1 leaves the format to the target). See docs/p4runtime-client.md for the formats and sources.
 *
 * - embedded (this project's eBPF target, dataplane/): the eBPF ELF object produced from
 *   p4/ebpf/<program>.c, as is.
 * - BMv2 simple_switch_grpc: the JSON that p4c (p4c-bm2-ss) writes, as is.
 * - Tofino: two formats.
 *   - 'stratum': a serialized `stratum.hal.barefoot.BfPipelineConfig` protobuf
 *     (stratum/hal/lib/barefoot/bf.proto): p4_name = 1 (string), bfruntime_info = 2 (bytes,
 *     bf-rt.json), profiles = 3 (repeated Profile: profile_name = 1, context = 2 (context.json),
 *     binary = 3 (tofino.bin), pipe_scope = 4 (repeated uint32)). stratum_bf and stratum_bfrt
 *     accept it (bf_pipeline_utils.cc ExtractBfPipelineConfig, "format 1").
 *   - 'pi': the legacy packing of the p4lang/PI Barefoot P4Runtime server (and of stratum_bf, not
 *     stratum_bfrt): for each of program name, tofino.bin and context.json in that order, a
 *     4-byte little-endian length followed by the bytes (p4runtime-shell
 *     config_builders/tofino.py; Stratum's BfPipelineConfigToPiConfig writes the same).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { InvalidArgumentError } from '../../core/errors.js';

export type SwitchTarget = 'embedded' | 'bmv2' | 'tofino';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
/** e_machine of eBPF objects (EM_BPF, linux/elf-em.h). */
const EM_BPF = 247;

/** The embedded target's device config: the eBPF ELF object, checked to be one. */
export function embeddedDeviceConfig(elfObject: Uint8Array): Buffer {
  const b = Buffer.from(elfObject);
  if (b.length < 20 || !b.subarray(0, 4).equals(ELF_MAGIC)) {
    throw new InvalidArgumentError('embedded device config: not an ELF object (compile p4/ebpf/<program>.c with clang -target bpf)');
  }
  const littleEndian = b[5] === 1;
  const machine = littleEndian ? b.readUInt16LE(18) : b.readUInt16BE(18);
  if (machine !== EM_BPF) {
    throw new InvalidArgumentError(`embedded device config: the ELF object is for machine ${machine}, not eBPF (${EM_BPF})`);
  }
  return b;
}

/** BMv2's device config: the p4c JSON, checked to parse and to have the "pipelines" BMv2 needs. */
export function bmv2DeviceConfig(json: Uint8Array | string): Buffer {
  const b = typeof json === 'string' ? Buffer.from(json, 'utf8') : Buffer.from(json);
  let parsed: unknown;
  try {
    parsed = JSON.parse(b.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`BMv2 device config: not JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { pipelines?: unknown }).pipelines)) {
    throw new InvalidArgumentError('BMv2 device config: the JSON has no "pipelines" array; is it p4c-bm2-ss output?');
  }
  return b;
}

/** What bf-p4c produces for one program with one pipeline profile. */
export interface TofinoBuild {
  /** The P4 program name (the "program-name" of bf-p4c's .conf). */
  readonly programName: string;
  /** The pipeline binary (<profile>/tofino.bin, or tofino2.bin). */
  readonly binary: Uint8Array;
  /** The pipeline's context.json. */
  readonly context: Uint8Array;
  /** bf-rt.json (needed for the 'stratum' format, ignored by 'pi'). */
  readonly bfrt?: Uint8Array;
  /** The profile (pipeline) name; bf-p4c calls the single pipeline "pipe". */
  readonly profileName?: string;
  /** The hardware pipes the profile applies to; empty means all. */
  readonly pipeScope?: readonly number[];
}

export type TofinoFormat = 'stratum' | 'pi';

const BF_ROOT = protobuf.Root.fromJSON({
  nested: {
    stratum: {
      nested: {
        hal: {
          nested: {
            barefoot: {
              nested: {
                BfPipelineConfig: {
                  fields: {
                    p4_name: { type: 'string', id: 1 },
                    bfruntime_info: { type: 'bytes', id: 2 },
                    profiles: { rule: 'repeated', type: 'Profile', id: 3 },
                  },
                  nested: {
                    Profile: {
                      fields: {
                        profile_name: { type: 'string', id: 1 },
                        context: { type: 'bytes', id: 2 },
                        binary: { type: 'bytes', id: 3 },
                        pipe_scope: { rule: 'repeated', type: 'uint32', id: 4 },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
});
const BF_PIPELINE_CONFIG = BF_ROOT.lookupType('stratum.hal.barefoot.BfPipelineConfig');

/** Stratum's BfPipelineConfig, decoded (for inspection and tests). */
export interface BfPipelineConfig {
  readonly p4Name: string;
  readonly bfruntimeInfo: Buffer;
  readonly profiles: readonly { profileName: string; context: Buffer; binary: Buffer; pipeScope: number[] }[];
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** The Tofino device config in the chosen format (default 'stratum'). */
export function tofinoDeviceConfig(build: TofinoBuild, format: TofinoFormat = 'stratum'): Buffer {
  if (!build.programName) throw new InvalidArgumentError('Tofino device config: the program name is empty');
  if (build.binary.length === 0) throw new InvalidArgumentError('Tofino device config: the pipeline binary (tofino.bin) is empty');
  if (build.context.length === 0) throw new InvalidArgumentError('Tofino device config: context.json is empty');
  if (format === 'pi') {
    const name = Buffer.from(build.programName, 'utf8');
    return Buffer.concat([u32le(name.length), name, u32le(build.binary.length), Buffer.from(build.binary), u32le(build.context.length), Buffer.from(build.context)]);
  }
  if (!build.bfrt || build.bfrt.length === 0) {
    throw new InvalidArgumentError("Tofino device config: the 'stratum' format needs bf-rt.json (TofinoBuild.bfrt)");
  }
  const msg = BF_PIPELINE_CONFIG.fromObject({
    p4_name: build.programName,
    bfruntime_info: Buffer.from(build.bfrt),
    profiles: [
      {
        profile_name: build.profileName ?? 'pipe',
        context: Buffer.from(build.context),
        binary: Buffer.from(build.binary),
        pipe_scope: [...(build.pipeScope ?? [])],
      },
    ],
  });
  const bytes = BF_PIPELINE_CONFIG.encode(msg).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a 'stratum' format config (BfPipelineConfig). */
export function decodeBfPipelineConfig(bytes: Uint8Array): BfPipelineConfig {
  let obj: Record<string, unknown>;
  try {
    obj = BF_PIPELINE_CONFIG.toObject(BF_PIPELINE_CONFIG.decode(bytes), { bytes: Buffer, defaults: true, arrays: true }) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`not a BfPipelineConfig: ${(err as Error).message}`);
  }
  const profiles = (obj.profiles as Record<string, unknown>[]).map((p) => ({
    profileName: p.profile_name as string,
    context: p.context as Buffer,
    binary: p.binary as Buffer,
    pipeScope: p.pipe_scope as number[],
  }));
  return { p4Name: obj.p4_name as string, bfruntimeInfo: obj.bfruntime_info as Buffer, profiles };
}

/** Splits a 'pi' format config into its three parts; throws InvalidArgumentError when lengths do not add up. */
export function decodeTofinoPiConfig(bytes: Uint8Array): { programName: string; binary: Buffer; context: Buffer } {
  const b = Buffer.from(bytes);
  const parts: Buffer[] = [];
  let off = 0;
  for (const what of ['program name', 'tofino.bin', 'context.json']) {
    if (off + 4 > b.length) throw new InvalidArgumentError(`PI Tofino config: truncated before the length of ${what}`);
    const n = b.readUInt32LE(off);
    off += 4;
    if (off + n > b.length) throw new InvalidArgumentError(`PI Tofino config: ${what} claims ${n} bytes, ${b.length - off} left`);
    parts.push(b.subarray(off, off + n));
    off += n;
  }
  if (off !== b.length) throw new InvalidArgumentError(`PI Tofino config: ${b.length - off} bytes after context.json`);
  return { programName: parts[0]!.toString('utf8'), binary: parts[1]!, context: parts[2]! };
}

/**
 * Reads a bf-p4c output directory laid out as bf-p4c writes it and as Stratum looks for it:
 * `<dir>/bf-rt.json` (or bfrt.json), `<dir>/<profile>/tofino.bin` (or tofino2.bin) and
 * `<dir>/<profile>/context.json`.
 */
export function readTofinoBuild(dir: string, programName: string, profileName = 'pipe'): TofinoBuild {
  const first = (paths: string[], what: string): Buffer => {
    for (const p of paths) {
      try {
        return readFileSync(p);
      } catch {
        // try the next name
      }
    }
    throw new InvalidArgumentError(`Tofino build in ${dir}: no ${what} (looked for ${paths.join(', ')})`);
  };
  return {
    programName,
    profileName,
    binary: first([join(dir, profileName, 'tofino.bin'), join(dir, profileName, 'tofino2.bin')], 'pipeline binary'),
    context: first([join(dir, profileName, 'context.json')], 'context.json'),
    bfrt: first([join(dir, 'bf-rt.json'), join(dir, 'bfrt.json')], 'bf-rt.json'),
  };
}

export type DeviceConfigSpec =
  | { readonly target: 'embedded'; readonly elf: Uint8Array }
  | { readonly target: 'bmv2'; readonly json: Uint8Array | string }
  | { readonly target: 'tofino'; readonly build: TofinoBuild; readonly format?: TofinoFormat };

/** The device config for any target. */
export function buildDeviceConfig(spec: DeviceConfigSpec): Buffer {
  switch (spec.target) {
    case 'embedded':
      return embeddedDeviceConfig(spec.elf);
    case 'bmv2':
      return bmv2DeviceConfig(spec.json);
    case 'tofino':
      return tofinoDeviceConfig(spec.build, spec.format);
  }
}
