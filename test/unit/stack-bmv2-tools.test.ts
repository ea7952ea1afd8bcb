/**
 * A bmv2 topology on a machine without BMv2 or p4c fails before anything is built, with a
 * NotFound error that names the missing tool and how to get it (PATH emptied for the test).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requireBmv2Tools } from '../../stack/bmv2.js';
import { startStack } from '../../stack/stack.js';
import { REPO } from '../helpers/ebpf.js';
import { testTopology } from '../helpers/stack.js';

describe('switch target bmv2 without the tools', () => {
  let path: string | undefined;
  let empty: string;
  beforeEach(() => {
    path = process.env.PATH;
    empty = mkdtempSync(join(tmpdir(), 'prism-nopath-'));
    process.env.PATH = empty;
  });
  afterEach(() => {
    process.env.PATH = path;
    rmSync(empty, { recursive: true, force: true });
  });

  it('startStack refuses with PRISM_ERR_NOT_FOUND naming simple_switch_grpc and the install hint', async () => {
    const err = await startStack(testTopology('bm-notools', 1, ['switch: { target: bmv2 }']), { root: REPO }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PRISM_ERR_NOT_FOUND' });
    expect((err as Error).message).toMatch(/simple_switch_grpc/);
    expect((err as Error).message).toMatch(/docs\/bmv2\.md/);
  });

  it('names every missing tool', () => {
    expect(() => requireBmv2Tools()).toThrow(/simple_switch_grpc and p4c on PATH/);
  });
});
