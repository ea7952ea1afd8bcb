/**
 * Topology files (stack/topology-file.ts) and controller files (stack/controller-config.ts):
 * defaults filled in, and every mistake refused with the field's path and what is wrong.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadControllerConfig } from '../../stack/controller-config.js';
import { loadTopology, parseTopology } from '../../stack/topology-file.js';

const TOPO = [
  'name: t1',
  'vips: [{ ip: 10.0.0.100, port: 80, mac: "02:00:00:00:00:fe" }]',
  'hosts:',
  '  - { name: client, ip: 10.0.0.1, port: 1, role: client }',
  '  - { name: b1, ip: 10.0.0.11, port: 11, role: backend }',
];

describe('topology files', () => {
  it('fills in the switch, the policy and speculative rule caching by default', () => {
    const t = parseTopology(TOPO.join('\n'));
    expect(t.switch).toEqual({ target: 'embedded', cpuPort: 64 });
    expect(t.policy).toEqual({ name: 'round-robin' });
    expect(t.speculation).toEqual({ mode: 'auto', keepMs: 200 });
  });

  it('the shipped demo topology is valid', () => {
    const t = loadTopology(join(import.meta.dirname, '..', '..', 'topologies', 'demo.yaml'));
    expect(t.hosts.filter((h) => h.role === 'backend')).toHaveLength(3);
    expect(t.speculation.mode).toBe('auto');
  });

  it('the shipped BMv2 topology is valid and selects the bmv2 target', () => {
    const t = loadTopology(join(import.meta.dirname, '..', '..', 'topologies', 'bmv2.yaml'));
    expect(t.switch).toEqual({ target: 'bmv2', cpuPort: 64 });
    expect(t.hosts.filter((h) => h.role === 'backend')).toHaveLength(3);
  });

  it.each([
    ['speculation: { mode: sometimes }', /speculation\.mode: Invalid option/],
    ['speculation: { mode: always, keepMs: -1 }', /speculation\.keepMs/],
    ['speculation: { mode: always, keep: 5 }', /speculation: Unrecognized key/],
    ['policy: { config: {} }', /policy\.name/],
    ['extra: 1', /\(top\): Unrecognized key/],
  ])('refuses %s, naming the field', (line, message) => {
    expect(() => parseTopology([...TOPO, line].join('\n'))).toThrow(message);
  });

  it('refuses bad addresses, duplicates and the CPU port, each with its path', () => {
    const bad = [
      'name: t2',
      'vips: [{ ip: 10.0.0.300, port: 80, mac: "02:00:00:00:00:fe" }]',
      'hosts:',
      '  - { name: client, ip: 10.0.0.1, port: 1, role: client }',
      '  - { name: client, ip: 10.0.0.1, port: 64, role: backend }',
    ].join('\n');
    let msg = '';
    try {
      parseTopology(bad, 'bad.yaml');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/^bad\.yaml is not a valid topology:/);
    expect(msg).toMatch(/vips\.0\.ip: an IPv4 address/);
    expect(msg).toMatch(/hosts\.1: duplicate host name client/);
    expect(msg).toMatch(/hosts\.1: duplicate address 10\.0\.0\.1/);
    expect(msg).toMatch(/hosts\.1\.port: port 64 is the CPU port/);
  });

  it('says when the text is not YAML or JSON at all', () => {
    expect(() => parseTopology('{ not: [valid', 'x.json')).toThrow(/x\.json: not valid JSON/);
    expect(() => parseTopology('a: [1, 2', 'x.yaml')).toThrow(/x\.yaml: not valid YAML/);
  });
});

describe('controller files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prism-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const BASE = ['switch: { address: "127.0.0.1:9559" }', 'vips: [{ ip: 10.0.0.100, port: 80, mac: "02:00:00:00:00:fe" }]'];

  it('fills in defaults, speculation included', () => {
    const c = loadControllerConfig(write('ok.yaml', BASE.join('\n')));
    expect(c.speculation).toEqual({ mode: 'auto', keepMs: 200 });
    expect(c.policy).toEqual({ name: 'round-robin' });
  });

  it('every shipped example controller file is valid, and `prism controller --help` names each', async () => {
    const root = join(import.meta.dirname, '..', '..');
    const examples = readdirSync(join(root, 'topologies')).filter((f) => /^controller-.*\.ya?ml$/.test(f));
    expect(examples.sort()).toEqual(['controller-bmv2.yaml', 'controller-embedded.yaml']);
    const bmv2 = loadControllerConfig(join(root, 'topologies', 'controller-bmv2.yaml'));
    expect(bmv2.switch).toMatchObject({ target: 'bmv2', cpuPort: 64, deviceConfig: 'build/bmv2/prism.json' });
    expect(bmv2.backends.map((b) => b.name)).toEqual(['b1', 'b2']);
    expect(loadControllerConfig(join(root, 'topologies', 'controller-embedded.yaml')).switch.target).toBe('embedded');
    const { Command } = await import('commander');
    const { registerController } = await import('../../cli/cmd-controller.js');
    const program = new Command();
    registerController(program);
    const help = helpAfter(program);
    for (const f of examples) expect(help).toContain(`topologies/${f}`);
  });

  it('takes speculation settings, and refuses bad ones with the path', () => {
    expect(loadControllerConfig(write('spec.yaml', [...BASE, 'speculation: { mode: off }'].join('\n'))).speculation).toEqual({ mode: 'off', keepMs: 200 });
    expect(() => loadControllerConfig(write('bad.yaml', [...BASE, 'speculation: { keepMs: 99999 }'].join('\n')))).toThrow(/bad\.yaml is not a valid controller configuration:\n {2}speculation\.keepMs/);
  });
});

/** `prism controller --help` as printed (with what addHelpText adds after the options). */
function helpAfter(program: import('commander').Command): string {
  let out = '';
  const cmd = program.commands.find((c) => c.name() === 'controller')!;
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}
