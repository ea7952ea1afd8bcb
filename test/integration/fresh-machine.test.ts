/**
 * The eBPF build on a machine that has only what setup installs. `/usr/include/asm` exists only
 * where something else (gcc-multilib, say) was installed by hand; Debian's linux-libc-dev puts
 * asm/ under /usr/include/<multiarch triplet>/. So both generated programs are compiled with the
 * clang command line setup uses (scripts/bpf-cc.mjs) inside a private mount namespace in which
 * /usr/include/asm does not exist, whatever this machine has there.
 *
 * The same environment without the multiarch include directory must fail with the error a fresh
 * machine printed (asm/types.h not found): that shows the environment really hides it.
 * Needs root (unshare --mount) and clang.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot } from '../../netns/index.js';
import { bpfIncludeDirs, clangBpfArgs } from '../../scripts/bpf-cc.mjs';
import { REPO } from '../helpers/ebpf.js';
import { onPath } from '../helpers/tools.js';

const reason = !isRoot() ? 'needs root (unshare --mount)' : !onPath('clang') ? 'clang is not installed (npm test installs it)' : !onPath('unshare') ? 'unshare (util-linux) is not on PATH' : null;
if (reason) console.warn(`[skip] fresh-machine eBPF build: ${reason}`);

const programs = readdirSync(join(REPO, 'p4', 'ebpf')).filter((n) => n.endsWith('.c'));
const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Runs clang with `args` in a private mount namespace whose /usr/include is a tmpfs holding every
 * entry of the real one but `asm` (each bound back; symlinks copied). Binding an empty directory
 * over /usr/include/asm would not do: where it is a symlink, the mount follows it and hides the
 * multiarch asm/ too.
 */
function clangWithoutAsm(args: string[]): { status: number | null; stderr: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'prism-noasm-'));
  try {
    const script = [
      'set -e',
      `orig=${quote(join(tmp, 'orig'))}`,
      'mkdir "$orig"',
      'mount --bind /usr/include "$orig"',
      'mount -t tmpfs prism-noasm /usr/include',
      'for e in "$orig"/*; do',
      '  n=${e##*/}',
      '  [ "$n" = asm ] && continue',
      '  if [ -L "$e" ]; then cp -P "$e" "/usr/include/$n"',
      '  elif [ -d "$e" ]; then mkdir "/usr/include/$n"; mount --bind "$e" "/usr/include/$n"',
      '  else : > "/usr/include/$n"; mount --bind "$e" "/usr/include/$n"; fi',
      'done',
      'test ! -e /usr/include/asm',
      `exec clang ${args.map(quote).join(' ')}`,
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe.skipIf(reason !== null)('eBPF build without hand-installed headers', () => {
  const out = mkdtempSync(join(tmpdir(), 'prism-fresh-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('finds the multiarch include directory that holds asm/types.h', () => {
    const dirs = bpfIncludeDirs();
    expect(dirs.length).toBe(1);
    expect(existsSync(join(dirs[0]!, 'asm', 'types.h'))).toBe(true);
  });

  it.each(programs)('setup’s clang command compiles p4/ebpf/%s with /usr/include/asm hidden', (file) => {
    const obj = join(out, file.replace(/\.c$/, '.bpf.o'));
    const r = clangWithoutAsm(clangBpfArgs(join(REPO, 'p4', 'ebpf', file), obj));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(obj)).toBe(true);
  });

  it.each(programs)('without the multiarch directory, p4/ebpf/%s does not compile there (the environment hides asm/)', (file) => {
    const args = clangBpfArgs(join(REPO, 'p4', 'ebpf', file), join(out, 'bare.o')).filter((a) => !a.startsWith('-I/usr/include/'));
    const r = clangWithoutAsm(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'asm/types.h' file not found");
  });
});
