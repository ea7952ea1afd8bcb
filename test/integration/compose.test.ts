/**
 * docker-compose.yml is valid for Docker Compose: where `docker compose version` works, `docker
 * compose config` accepts the file and names the four services (p4c, mininet, bmv2, controller)
 * with the wiring docs/docker.md describes. Without the compose plugin (or without a docker CLI)
 * this file prints that it skipped and why. It never starts a container.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO } from '../helpers/ebpf.js';

const FILE = join(REPO, 'docker-compose.yml');

function composeSkipReason(): string | null {
  const v = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
  if (v.error) return `no docker CLI (${(v.error as NodeJS.ErrnoException).code ?? v.error.message})`;
  if (v.status !== 0) return `\`docker compose version\` fails: ${(v.stderr || v.stdout).trim().split('\n')[0] ?? 'no output'} (the compose plugin is not installed)`;
  return null;
}

const reason = composeSkipReason();
if (reason) console.warn(`[skip] docker compose test: ${reason}`);

interface ComposeConfig {
  services: Record<string, { image?: string; network_mode?: string; privileged?: boolean; depends_on?: Record<string, { condition?: string }>; command?: string[] | string }>;
  volumes?: Record<string, unknown>;
}

describe.skipIf(reason)('docker-compose.yml', () => {
  it('`docker compose config` accepts it and lists BMv2, Mininet, the controller and the p4c step', () => {
    const r = spawnSync('docker', ['compose', '-f', FILE, 'config'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const cfg = parseYaml(r.stdout) as ComposeConfig;
    expect(Object.keys(cfg.services).sort()).toEqual(['bmv2', 'controller', 'mininet', 'p4c']);
    expect(cfg.services.bmv2!.image).toMatch(/^p4lang\/behavioral-model/);
    expect(cfg.services.p4c!.image).toMatch(/^p4lang\/p4c/);
    expect(cfg.services.mininet!.privileged).toBe(true);
    expect(cfg.services.mininet!.depends_on?.p4c?.condition).toBe('service_completed_successfully');
    for (const s of ['bmv2', 'controller']) expect(cfg.services[s]!.network_mode).toBe('service:mininet');
    expect(Object.keys(cfg.volumes ?? {}).sort()).toEqual(['p4out', 'prism-run']);
    // The default run is the --test one.
    expect(JSON.stringify(cfg.services.mininet!.command)).toContain('--test');
  });
});
