/**
 * The configuration file of `prism controller` (YAML or JSON): which switch to program and with
 * what, the VIPs, the routes, the backends and their agents, the policy, the admin API.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Ipv4Schema as ipv4, MacSchema as mac, parseConfigText, PolicySchema, SpeculationSchema } from './schema-parts.js';

const port = z.number().int().min(0).max(510);

export const ControllerConfigSchema = z
  .object({
    switch: z
      .object({
        /** host:port or unix:/path of the switch's P4Runtime server. */
        address: z.string().min(1),
        deviceId: z.number().int().min(0).default(1),
        electionId: z.number().int().min(1).default(1),
        /** embedded: the eBPF object; bmv2: p4c's JSON; tofino: not from this file (see docs/p4runtime-client.md). */
        target: z.enum(['embedded', 'bmv2']).default('embedded'),
        /** The device config file (default for embedded: build/ebpf/prism.bpf.o). */
        deviceConfig: z.string().optional(),
        /** The P4Info, binary or text-format path (default p4/p4info/prism.p4info.bin). */
        p4info: z.string().optional(),
        /** The switch's CPU port (bmv2: its --cpu-port, and the CPU_PORT the JSON was compiled with). */
        cpuPort: port.default(64),
      })
      .strict(),
    vips: z.array(z.object({ ip: ipv4, port: z.number().int().min(1).max(65535), mac }).strict()).min(1),
    routes: z.array(z.object({ prefix: z.string().regex(/^[\d.]+\/\d+$/), port, srcMac: mac, dstMac: mac }).strict()).default([]),
    backends: z.array(z.object({ name: z.string().min(1), ip: ipv4, mac, port, agent: z.string().min(1) }).strict()).default([]),
    /** File holding the shared agent token. */
    agentTokenFile: z.string().optional(),
    policy: PolicySchema,
    /** Speculative rule caching (Prism 3.3): keep a transaction's rules and socket for the next request. */
    speculation: SpeculationSchema,
    admin: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080), tokenFile: z.string().optional() }).strict().default({ host: '127.0.0.1', port: 8080 }),
  })
  .strict();

export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;

export function loadControllerConfig(path: string): ControllerConfig {
  return parseConfigText(ControllerConfigSchema, readFileSync(path, 'utf8'), path, 'controller configuration');
}
