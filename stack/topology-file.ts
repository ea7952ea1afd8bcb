/**
 * Topology files (YAML or JSON): hosts, their switch ports and roles, the switch target, VIPs,
 * the policy. Validated with a schema; errors name the field and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Ipv4Schema as ipv4, MacSchema as mac, parseConfigText, PolicySchema, SpeculationSchema } from './schema-parts.js';

const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,14}$/, 'lower-case letters, digits and -, at most 15 characters, starting with a letter');

export const TopologySchema = z
  .object({
    name: hostName,
    switch: z
      .object({
        target: z.enum(['embedded', 'bmv2']).default('embedded'),
        cpuPort: z.number().int().min(0).max(510).default(64),
      })
      .strict()
      .default({ target: 'embedded', cpuPort: 64 }),
    vips: z.array(z.object({ ip: ipv4, port: z.number().int().min(1).max(65535), mac }).strict()).min(1),
    hosts: z
      .array(
        z
          .object({
            name: hostName,
            ip: ipv4,
            port: z.number().int().min(0).max(510),
            role: z.enum(['client', 'backend']),
          })
          .strict(),
      )
      .min(1),
    policy: PolicySchema,
    /** Speculative rule caching (Prism 3.3): keep a transaction's rules and socket for the next request. */
    speculation: SpeculationSchema,
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = (key: (h: (typeof t.hosts)[number]) => string | number, what: string) => {
      const s = new Set<string | number>();
      for (const [i, h] of t.hosts.entries()) {
        if (s.has(key(h))) ctx.addIssue({ code: 'custom', path: ['hosts', i], message: `duplicate ${what} ${key(h)}` });
        s.add(key(h));
      }
    };
    seen((h) => h.name, 'host name');
    seen((h) => h.ip, 'address');
    seen((h) => h.port, 'switch port');
    for (const [i, h] of t.hosts.entries()) {
      if (h.port === t.switch.cpuPort) ctx.addIssue({ code: 'custom', path: ['hosts', i, 'port'], message: `port ${h.port} is the CPU port` });
    }
  });

export type TopologyFile = z.infer<typeof TopologySchema>;

export function parseTopology(text: string, source = 'topology'): TopologyFile {
  return parseConfigText(TopologySchema, text, source, 'topology');
}

export function loadTopology(path: string): TopologyFile {
  return parseTopology(readFileSync(path, 'utf8'), path);
}
