#!/usr/bin/env node
// Installs what prism needs and builds it; safe and quick to run again.
// Used by `npm run demo`, `npm test` and `npm run build`. Plain Node, no dependencies:
// it runs before node_modules exists.
//
//   node scripts/setup.mjs               Debian packages, npm packages, native addons, TypeScript
//   node scripts/setup.mjs --build-only  skip the Debian packages
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clangBpfArgs } from './bpf-cc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampDir = join(root, 'node_modules', '.prism-setup');
const buildOnly = process.argv.includes('--build-only');
const t0 = Date.now();

// Debian packages prism uses at run or build time, and why.
const DEBIAN_PACKAGES = [
  'clang', // compiles the generated eBPF C (clang -target bpf)
  'libc6-dev', // C headers for the native addons
  'linux-libc-dev', // <linux/bpf.h>, and <asm/types.h> under /usr/include/<triplet>/ (scripts/bpf-cc.mjs names it)
  'llvm', // llvm-objdump / llvm-strip for BPF objects
  'libbpf-dev', // libbpf headers and library for the native bpf addon and BPF programs
  'libelf-dev', // libbpf's ELF dependency (headers for linking the addon)
  'zlib1g-dev', // libbpf's zlib dependency
  'iproute2', // ip netns / ip link / tc: the namespace harness and tc attach
  'curl', // a real HTTP client in tests and the demo
  'python3', // node-gyp, and Python's http.client as a real client in tests
  'make',
  'g++',
  'procps', // ps / pkill in teardown, sysctl in the namespace harness
  'util-linux', // unshare and mount (the fresh-machine build test), setsid (process groups)
  'iputils-ping', // reachability checks in tests
  'ethtool', // turning off checksum offload on test hosts' interfaces
  'bpftool', // inspecting loaded programs and maps (docs, debugging)
  'iperf3', // bulk TCP throughput in the switch benchmark
  'chromium', // headless browser for the admin dashboard test (playwright-core drives /usr/bin/chromium)
  'nginx', // the reverse proxy prism is compared with in the hand-off benchmark
  'mininet', // topologies/mininet/prism_mininet.py and its test (mnexec, Python module for /usr/bin/python3); no Open vSwitch (--no-install-recommends)
];

function log(msg) {
  process.stdout.write(`[setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

function hashFiles(paths) {
  const h = createHash('sha256');
  for (const p of paths.sort()) {
    h.update(relative(root, p));
    h.update('\0');
    h.update(readFileSync(p));
    h.update('\0');
  }
  return h.digest('hex');
}

function listFiles(dir, accept) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules' || e.name === 'build' || e.name === 'dist') continue;
      out.push(...listFiles(p, accept));
    } else if (accept(e.name)) out.push(p);
  }
  return out;
}

function stampOk(name, hash) {
  const p = join(stampDir, name);
  return existsSync(p) && readFileSync(p, 'utf8') === hash;
}

function writeStamp(name, hash) {
  mkdirSync(stampDir, { recursive: true });
  writeFileSync(join(stampDir, name), hash);
}

function debianPackages() {
  const missing = DEBIAN_PACKAGES.filter((pkg) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
  if (missing.length === 0) return log('Debian packages: all present');
  if (process.getuid?.() !== 0) {
    log(`Debian packages missing: ${missing.join(' ')}`);
    log('not root, so not installing them: run as root, or `sudo apt-get install ' + missing.join(' ') + '`');
    return;
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

function npmPackages() {
  const lock = join(root, 'package-lock.json');
  const hash = hashFiles([lock, join(root, 'package.json')]);
  if (existsSync(join(root, 'node_modules')) && stampOk('npm', hash)) return log('npm packages: up to date');
  log('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  writeStamp('npm', hash);
}

function nativeAddons() {
  const gyp = join(root, 'native', 'binding.gyp');
  if (!existsSync(gyp)) return;
  const sources = listFiles(join(root, 'native'), (n) => /\.(c|h|gyp)$/.test(n));
  const hash = hashFiles(sources);
  if (stampOk('native', hash) && existsSync(join(root, 'native', 'build', 'Release'))) {
    return log('native addons: up to date');
  }
  log('building native addons (node-gyp)');
  const nodedir = process.env.npm_config_nodedir ?? (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
  const args = ['rebuild', '--directory', 'native', '--loglevel=error', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  run(join(root, 'node_modules', '.bin', 'node-gyp'), args);
  writeStamp('native', hash);
}

function typescript() {
  const sources = [
    ...['core', 'cli', 'controller', 'codegen', 'agent', 'dataplane', 'netns', 'stack', 'native', 'bench', 'proto'].flatMap((d) =>
      listFiles(join(root, d), (n) => n.endsWith('.ts') || n.endsWith('.proto')),
    ),
    join(root, 'tsconfig.json'),
    join(root, 'tsconfig.build.json'),
  ];
  const hash = hashFiles(sources);
  if (stampOk('tsc', hash) && existsSync(join(root, 'dist', 'cli', 'main.js'))) return log('TypeScript: up to date');
  log('compiling TypeScript (tsc)');
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']);
  writeStamp('tsc', hash);
}

/** Compiles the generated eBPF C (p4/ebpf/*.c) into build/ebpf/*.bpf.o when it changed. */
function ebpfObjects() {
  const srcDir = join(root, 'p4', 'ebpf');
  if (!existsSync(srcDir)) return;
  const outDir = join(root, 'build', 'ebpf');
  mkdirSync(outDir, { recursive: true });
  for (const file of readdirSync(srcDir).filter((n) => n.endsWith('.c'))) {
    const src = join(srcDir, file);
    const obj = join(outDir, file.replace(/\.c$/, '.bpf.o'));
    const hash = hashFiles([src, join(root, 'scripts', 'bpf-cc.mjs')]);
    if (stampOk(`ebpf-${file}`, hash) && existsSync(obj)) continue;
    log(`compiling eBPF ${relative(root, src)} -> ${relative(root, obj)}`);
    run('clang', clangBpfArgs(src, obj));
    writeStamp(`ebpf-${file}`, hash);
  }
}

try {
  if (!buildOnly) debianPackages();
  npmPackages();
  nativeAddons();
  typescript();
  ebpfObjects();
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} catch (err) {
  process.stderr.write(`[setup] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
