/**
 * The namespace harness against the real kernel: two hosts linked by a veth, real TCP traffic
 * (curl and a Node client fetch 8 MiB from a Node server), and cleanup on every way a run can end.
 * Needs root and iproute2; skips with the reason otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupRun,
  isAlive,
  listNamespaces,
  run,
  registeredCount,
  skipReason,
  Topology,
  vethPrefixFor,
  type CleanupReport,
  type Host,
} from '../../netns/index.js';

const reason = skipReason([['curl', '--version']]);
if (reason !== null) console.warn(`netns integration tests skipped: ${reason}`);
const havePing = reason === null && skipReason([['ping', '-V']]) === null;

const PAYLOAD_SIZE = 8 * 1024 * 1024;
const PORT = 8080;

/** Deterministic payload: concatenated sha256('prism-payload:<k>') blocks. Same code runs in the server. */
const PAYLOAD_FN = `function payload(n) {
  const crypto = require('node:crypto');
  const out = Buffer.alloc(n);
  for (let off = 0, k = 0; off < n; k++) off += crypto.createHash('sha256').update('prism-payload:' + k).digest().copy(out, off);
  return out;
}`;

const SERVER = `${PAYLOAD_FN}
const http = require('node:http');
const buf = payload(Number(process.env.SIZE));
const hash = require('node:crypto').createHash('sha256').update(buf).digest('hex');
const srv = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': buf.length });
  res.end(buf);
});
srv.listen(Number(process.env.PORT), '0.0.0.0', () => process.stdout.write('listening ' + hash + '\\n'));`;

const CLIENT = `const http = require('node:http');
const h = require('node:crypto').createHash('sha256');
let n = 0;
http.get(process.env.URL, (res) => {
  if (res.statusCode !== 200) { console.error('status ' + res.statusCode); process.exit(2); }
  res.on('data', (b) => { n += b.length; h.update(b); });
  res.on('end', () => process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'));
}).on('error', (e) => { console.error(e.message); process.exit(1); });`;

const expectedPayload = new Function('require', 'n', `${PAYLOAD_FN}; return payload(n);`) as (req: NodeJS.Require, n: number) => Buffer;

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Resolves with the first stdout line of `child`; rejects if it exits first. */
function firstLine(child: ChildProcess, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no output from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, i));
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`pid ${child.pid} exited (${code ?? sig}) before printing a line`));
    });
  });
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Streams the stdout of a program run in `host` into SHA-256. */
async function hashStdout(host: Host, argv: string[]): Promise<{ bytes: number; sha256: string }> {
  const child = host.spawn(argv);
  const h = createHash('sha256');
  let bytes = 0;
  child.stdout?.on('data', (b: Buffer) => {
    bytes += b.length;
    h.update(b);
  });
  const { code } = await waitExit(child);
  expect(code, `${argv.join(' ')}: ${host.stderrTail(child)}`).toBe(0);
  return { bytes, sha256: h.digest('hex') };
}

async function rootLinkNames(): Promise<string[]> {
  const { stdout } = await run(['ip', '-o', 'link', 'show']);
  return stdout.split('\n').flatMap((l) => {
    const m = /^\d+:\s+([^:@\s]+)/.exec(l);
    return m?.[1] !== undefined ? [m[1]] : [];
  });
}

/** Nothing of the run is left: no namespace, no veth in the root namespace, no live process. */
async function expectGone(netnsPrefix: string, vethPrefix: string, vethNames: readonly string[], pids: readonly number[]): Promise<void> {
  expect((await listNamespaces()).filter((n) => n.startsWith(netnsPrefix))).toEqual([]);
  const links = await rootLinkNames();
  expect(links.filter((n) => vethNames.includes(n) || n.startsWith(vethPrefix))).toEqual([]);
  expect(pids.filter((p) => isAlive(p))).toEqual([]);
}

const topologies: Topology[] = [];
function newTopology(graceMs = 2_000): Topology {
  const t = new Topology({ graceMs });
  topologies.push(t);
  return t;
}

describe.skipIf(reason !== null)('netns harness: two hosts', () => {
  afterEach(async () => {
    // Safety net: whatever a test did or failed to do, nothing leaks.
    for (const t of topologies.splice(0)) await t.teardown();
  });

  it('carries 8 MiB over a veth to curl and a Node client, then tears down completely', async () => {
    const expected = sha256(expectedPayload(createRequire(import.meta.url), PAYLOAD_SIZE));
    const t = newTopology();
    const client = await t.addHost('client');
    const server = await t.addHost('server');
    expect(client.netns).toBe(`prism-${t.runId}-client`);
    expect(server.netns).toBe(`prism-${t.runId}-server`);

    const link = await t.link(client, server, { mtu: 1400 });
    expect(link.a.ifname).toBe('eth0');
    expect(link.b.ifname).toBe('eth0');
    expect(link.vethNames.every((n) => n.length <= 15 && n.startsWith(t.vethPrefix))).toBe(true);
    await client.addAddress('eth0', '10.77.0.1/24');
    await server.addAddress('eth0', '10.77.0.2/24');
    // A service address behind the server, reached through a route, and a static ARP entry.
    await server.addAddress('lo', '10.78.0.1/32');
    await client.addRoute('10.78.0.0/24', { via: '10.77.0.2', dev: 'eth0' });
    await client.addNeighbor('10.77.0.2', link.b.mac, 'eth0');

    const shown = (await client.ip(['-o', 'link', 'show', 'dev', 'eth0'])).stdout;
    expect(shown).toContain('mtu 1400');
    expect(shown).toContain(link.a.mac);
    expect(shown).toMatch(/state UP|LOWER_UP/);
    expect((await server.ip(['-o', 'link', 'show', 'dev', 'lo'])).stdout).toMatch(/UP/);
    expect((await client.ip(['neigh', 'show', '10.77.0.2'])).stdout).toMatch(new RegExp(`${link.b.mac}.*PERMANENT`));
    // The hosts' interfaces do not appear in the root namespace under any name.
    const rootLinks = await rootLinkNames();
    expect(rootLinks.filter((n) => n.startsWith(t.vethPrefix))).toEqual([]);

    const srv = server.spawn([process.execPath, '-e', SERVER], { env: { ...process.env, SIZE: String(PAYLOAD_SIZE), PORT: String(PORT) } });
    const [, serverHash] = (await firstLine(srv)).split(' ');
    expect(serverHash).toBe(expected);
    await server.waitForTcpPort(PORT, { process: srv });
    expect(await client.isListening(PORT)).toBe(false);

    if (havePing) {
      const ping = await client.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.77.0.2']);
      expect(ping.stdout).toMatch(/2 received/);
      await client.exec(['ping', '-c', '1', '-W', '2', '10.78.0.1']);
    } else {
      console.warn('ping is not installed (Debian package iputils-ping): ICMP check skipped');
    }

    const viaCurl = await hashStdout(client, ['curl', '-sS', '--fail', '--max-time', '30', '-o', '-', `http://10.78.0.1:${PORT}/`]);
    expect(viaCurl).toEqual({ bytes: PAYLOAD_SIZE, sha256: expected });

    const nodeClient = client.spawn([process.execPath, '-e', CLIENT], { env: { ...process.env, URL: `http://10.77.0.2:${PORT}/` } });
    const viaNode = JSON.parse(await firstLine(nodeClient, 30_000)) as unknown;
    expect(viaNode).toEqual({ bytes: PAYLOAD_SIZE, sha256: expected });

    const pids = [srv.pid, nodeClient.pid].filter((p): p is number => p !== undefined);
    expect(isAlive(srv.pid ?? -1)).toBe(true);
    const vethNames = t.vethNames();
    const report = await t.teardown();
    expect(report.namespaces.sort()).toEqual([client.netns, server.netns].sort());
    expect(report.pids).toContain(srv.pid);
    await expectGone(t.netnsPrefix, t.vethPrefix, vethNames, pids);

    // Idempotent: a second teardown finds nothing and does not throw.
    expect(await t.teardown()).toEqual<CleanupReport>({ namespaces: [], interfaces: [], pids: [] });
    expect(registeredCount()).toBe(0);
    await expect(t.addHost('again')).rejects.toThrow(/torn down/);
  });

  it('tears everything down when the test body throws midway, including stubborn and untracked processes', async () => {
    const t = newTopology(300);
    const pids: number[] = [];
    let hosts: Host[] = [];
    const body = async (): Promise<void> => {
      const a = await t.addHost('a');
      const b = await t.addHost('b');
      const c = await t.addHost('c');
      hosts = [a, b, c];
      await t.link(a, b);
      await t.link(a, c, { ifnameA: 'toc', ifnameB: 'toa', macA: '02:00:00:00:0a:0c' });
      expect(a.interfaces().map((i) => i.ifname)).toEqual(['eth0', 'toc']);
      // Ignores SIGTERM: needs the SIGKILL after the grace period.
      const stubborn = a.spawn([process.execPath, '-e', "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);"]);
      await firstLine(stubborn);
      // A process group with a child.
      const group = b.spawn(['sh', '-c', 'sleep 600 & exec sleep 601'], { stdio: 'ignore' });
      // Not tracked at all: started in the background by a command that returns.
      await c.exec(['setsid', '-f', 'sleep', '602']);
      for (const p of [stubborn.pid, group.pid]) if (p !== undefined) pids.push(p);
      for (;;) {
        const inNs = [...(await b.pids()), ...(await c.pids())];
        if (inNs.length >= 3) {
          pids.push(...inNs);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('simulated failure in the middle of a test');
    };

    let failure: unknown;
    let report: CleanupReport | undefined;
    try {
      await body();
    } catch (e) {
      failure = e;
    } finally {
      report = await t.teardown();
    }
    expect(String(failure)).toMatch(/simulated failure/);
    expect(report.namespaces.sort()).toEqual(hosts.map((h) => h.netns).sort());
    expect(pids.length).toBeGreaterThanOrEqual(5);
    await expectGone(t.netnsPrefix, t.vethPrefix, t.vethNames(), pids);
  });

  it('refuses to adopt a namespace that already exists, and leaves it alone', async () => {
    const t = newTopology();
    const foreign = `prism-${t.runId}-taken`;
    await run(['ip', 'netns', 'add', foreign]);
    try {
      await expect(t.addHost('taken')).rejects.toMatchObject({ code: 'PRISM_ERR_NETNS' });
      expect(t.namespaces()).toEqual([]);
      await t.teardown();
      expect(await listNamespaces()).toContain(foreign);
    } finally {
      await run(['ip', 'netns', 'del', foreign]);
    }
  });
});

describe.skipIf(reason !== null)('netns harness: a process that owns a topology ends', () => {
  // The child runs the harness compiled to plain JS (type-stripped with the TypeScript compiler),
  // under node_modules so that it resolves pino like the project does.
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..', '..');
  const outDir = join(root, 'node_modules', '.cache', `prism-netns-test-${randomBytes(4).toString('hex')}`);
  const runIds: string[] = [];

  beforeAll(() => {
    for (const dir of ['netns', 'core']) {
      for (const f of readdirSync(join(root, dir)).filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts'))) {
        const src = readFileSync(join(root, dir, f), 'utf8');
        const js = ts.transpileModule(src, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        }).outputText;
        const dest = join(outDir, dir, f.replace(/\.ts$/, '.js'));
        mkdirSync(dirname(dest), { recursive: true });
        writeFileSync(dest, js);
      }
    }
    writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(
      join(outDir, 'owner.mjs'),
      `import { Topology } from './netns/index.js';
const t = new Topology({ runId: process.env.RUN_ID, graceMs: 200 });
const a = await t.addHost('a');
const b = await t.addHost('b');
await t.link(a, b);
const tracked = a.spawn(['sleep', '600'], { stdio: 'ignore' });
await b.exec(['setsid', '-f', 'sleep', '601']);
process.stdout.write(JSON.stringify({ tracked: tracked.pid, namespaces: t.namespaces() }) + '\\n');
process.stdin.on('data', (d) => {
  const cmd = d.toString().trim();
  if (cmd === 'throw') setTimeout(() => { throw new Error('uncaught on purpose'); });
  if (cmd === 'exit') process.exit(3);
});
`,
    );
    expect(relative(root, outDir).startsWith('node_modules')).toBe(true);
  });

  afterAll(async () => {
    rmSync(outDir, { recursive: true, force: true });
    for (const id of runIds) await cleanupRun(id);
  });

  interface Owner {
    child: ChildProcess;
    runId: string;
    tracked: number;
    namespaces: string[];
    /** Every pid in the owner's namespaces. */
    all: number[];
    stderr: () => string;
  }

  async function startOwner(): Promise<Owner> {
    const runId = randomBytes(4).toString('hex');
    runIds.push(runId);
    const child = spawn(process.execPath, [join(outDir, 'owner.mjs')], {
      env: { ...process.env, RUN_ID: runId, PRISM_LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const ready = JSON.parse(await firstLine(child)) as { tracked: number; namespaces: string[] };
    expect(ready.namespaces).toEqual([`prism-${runId}-a`, `prism-${runId}-b`]);
    const all: number[] = [];
    for (const ns of ready.namespaces) {
      const { stdout } = await run(['ip', 'netns', 'pids', ns]);
      all.push(...stdout.split(/\s+/).filter(Boolean).map(Number));
    }
    expect(all).toContain(ready.tracked);
    expect(all.length).toBe(2);
    return { child, runId, ...ready, all, stderr: () => stderr };
  }

  it('SIGKILL leaves the namespaces behind, and cleanupRun removes them and their processes', async () => {
    const o = await startOwner();
    o.child.kill('SIGKILL');
    expect((await waitExit(o.child)).signal).toBe('SIGKILL');
    const prefix = `prism-${o.runId}-`;
    expect((await listNamespaces()).filter((n) => n.startsWith(prefix)).sort()).toEqual(o.namespaces);
    expect(o.all.every((p) => isAlive(p))).toBe(true);

    const report = await cleanupRun(o.runId);
    expect(report.namespaces).toEqual(o.namespaces);
    expect(report.pids.sort()).toEqual(o.all.sort());
    await expectGone(prefix, vethPrefixFor(o.runId), [], o.all);
    expect(await cleanupRun(o.runId)).toEqual({ namespaces: [], interfaces: [], pids: [] });
  });

  it.each([
    ['SIGINT', { signal: 'SIGINT', code: null }],
    ['SIGTERM', { signal: 'SIGTERM', code: null }],
    ['SIGHUP', { signal: 'SIGHUP', code: null }],
    ['throw', { signal: null, code: 1 }],
    ['exit', { signal: null, code: 3 }],
  ] as const)('%s: the process removes its namespaces itself and still ends the same way', async (how, expected) => {
    const o = await startOwner();
    if (how.startsWith('SIG')) o.child.kill(how as NodeJS.Signals);
    else o.child.stdin?.write(`${how}\n`);
    expect(await waitExit(o.child), o.stderr()).toEqual(expected);
    if (how === 'throw') expect(o.stderr()).toContain('uncaught on purpose');
    else expect(o.stderr()).toBe('');
    await expectGone(`prism-${o.runId}-`, vethPrefixFor(o.runId), [], o.all);
  });
});
