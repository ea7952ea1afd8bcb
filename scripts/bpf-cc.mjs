// The one clang command line for eBPF objects: setup, the tests and the benchmarks build with it.
// Plain Node, no dependencies (setup imports it before node_modules exists).
//
// `clang -target bpf` does not search the multiarch include directory, yet <linux/types.h> includes
// <asm/types.h>, which Debian's linux-libc-dev installs only under /usr/include/<triplet>/asm.
// /usr/include/asm exists only where something else (gcc-multilib) made it, so the triplet's
// directory is named here explicitly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const ARCH_TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', arm: 'arm-linux-gnueabihf', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu', riscv64: 'riscv64-linux-gnu' };

let cached;

/** The host's multiarch triplet: gcc's answer, then dpkg-architecture's, then one from Node's arch. */
export function multiarchTriplet() {
  if (cached !== undefined) return cached;
  for (const [cmd, args] of [
    ['gcc', ['-print-multiarch']],
    ['dpkg-architecture', ['-qDEB_HOST_MULTIARCH']],
  ]) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const t = r.status === 0 ? r.stdout.trim() : '';
    if (t) return (cached = t);
  }
  return (cached = ARCH_TRIPLETS[process.arch] ?? `${process.arch}-linux-gnu`);
}

/** Include directories the eBPF build adds: the multiarch one, where it exists. */
export function bpfIncludeDirs() {
  const dir = `/usr/include/${multiarchTriplet()}`;
  return existsSync(dir) ? [dir] : [];
}

/**
 * The clang arguments that compile `src` into the BPF object `out`.
 * @param {string} src
 * @param {string} out
 * @param {{ werror?: boolean, debug?: boolean }} [opts]
 */
export function clangBpfArgs(src, out, opts = {}) {
  const { werror = true, debug = true } = opts;
  return [
    '-O2',
    ...(debug ? ['-g'] : []),
    ...(werror ? ['-Wall', '-Werror'] : []),
    '-target',
    'bpf',
    ...bpfIncludeDirs().map((d) => `-I${d}`),
    '-c',
    src,
    '-o',
    out,
  ];
}
