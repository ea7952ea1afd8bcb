/**
 * RuleBatcher (controller/handoff/rules.ts): deferred hand-off rule deletes go out with the next
 * write or on their own at the next turn of the event loop; never two updates of one entry in a
 * batch; a deferred delete's failure is not the next writer's; the writer's own failures keep
 * their indexes.
 */
import { describe, expect, it } from 'vitest';
import { P4RuntimeWriteError } from '../../core/errors.js';
import { DEFER_MS, RuleBatcher, type BatchWriter } from '../../controller/handoff/rules.js';
import type { EntryUpdate } from '../../controller/p4rt/client.js';
import type { WriteResult } from '../../controller/p4rt/write-status.js';

const entry = (port: number, table = 'handoff_out') => ({ table, match: { 'hdr.ipv4.src_addr': '10.0.0.11', 'hdr.tcp.dst_port': port } });
const del = (port: number, table?: string): EntryUpdate => ({ type: 'DELETE', entry: entry(port, table) });
const ins = (port: number, table?: string): EntryUpdate => ({ type: 'INSERT', entry: { ...entry(port, table), action: 'from_backend' } });

/** Records each batch; `refuse` names ports whose updates the switch refuses; `throwNext` fails the whole RPC. */
class Switch implements BatchWriter {
  readonly batches: string[][] = [];
  refuse = new Set<number>();
  throwNext = false;
  async write(updates: readonly EntryUpdate[]): Promise<WriteResult[]> {
    this.batches.push(updates.map((u) => `${u.type} ${String(u.entry.table)}:${String(u.entry.match!['hdr.tcp.dst_port'])}`));
    if (this.throwNext) {
      this.throwNext = false;
      throw new Error('the switch is gone');
    }
    return updates.map((u, index): WriteResult => {
      const port = Number(u.entry.match!['hdr.tcp.dst_port']);
      return this.refuse.has(port)
        ? { ok: false, index, type: u.type, entry: `port ${port}`, code: 'NOT_FOUND', message: 'no such entry', space: '', spaceCode: 0 }
        : { ok: true, index, type: u.type, entry: `port ${port}` };
    });
  }
}

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, DEFER_MS + 1));

describe('RuleBatcher', () => {
  it('deferred deletes of several connections go out together DEFER_MS later when nothing else writes', async () => {
    const sw = new Switch();
    const b = new RuleBatcher(sw);
    b.deferDelete([del(1)]);
    b.deferDelete([del(2)]);
    expect(sw.batches).toEqual([]);
    expect(b.pending).toBe(2);
    await turn();
    await turn();
    expect(sw.batches).toEqual([['DELETE handoff_out:1', 'DELETE handoff_out:2']]);
    expect(b.pending).toBe(0);
    expect(b.stats).toEqual({ deferred: 2, batched: 0, failed: 0 });
  });

  it('the next write carries them, first, in the same batch', async () => {
    const sw = new Switch();
    const b = new RuleBatcher(sw);
    b.deferDelete([del(1)]);
    await b.writeOrThrow([ins(5, 'handoff_in'), ins(5)]);
    expect(sw.batches).toEqual([['DELETE handoff_out:1', 'INSERT handoff_in:5', 'INSERT handoff_out:5']]);
    await turn();
    expect(sw.batches).toHaveLength(1); // nothing left for the scheduled flush
    expect(b.stats.batched).toBe(1);
  });

  it('an update of an entry whose delete is pending waits for that delete (no two updates of one entry in a batch)', async () => {
    const sw = new Switch();
    const b = new RuleBatcher(sw);
    b.deferDelete([del(7), del(8)]);
    await b.writeOrThrow([ins(7)]);
    expect(sw.batches).toEqual([['DELETE handoff_out:7', 'DELETE handoff_out:8'], ['INSERT handoff_out:7']]);
    // Same match in another table is another entry: batched.
    b.deferDelete([del(9)]);
    await b.writeOrThrow([ins(9, 'handoff_in')]);
    expect(sw.batches[2]).toEqual(['DELETE handoff_out:9', 'INSERT handoff_in:9']);
  });

  it("a deferred delete that fails is counted and logged, not thrown at the next writer; the writer's own failure keeps its index", async () => {
    const sw = new Switch();
    const b = new RuleBatcher(sw);
    sw.refuse.add(1);
    b.deferDelete([del(1)]);
    await expect(b.writeOrThrow([ins(5)])).resolves.toBeUndefined();
    expect(b.stats.failed).toBe(1);
    sw.refuse.add(6);
    b.deferDelete([del(2)]);
    const err = await b.writeOrThrow([ins(5, 'handoff_in'), ins(6)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P4RuntimeWriteError);
    expect((err as P4RuntimeWriteError).batchSize).toBe(2);
    expect((err as P4RuntimeWriteError).failures.map((f) => f.index)).toEqual([1]);
  });

  it('a failed RPC fails the writer and counts the deferred deletes it carried; flush() writes what is pending now', async () => {
    const sw = new Switch();
    const b = new RuleBatcher(sw);
    b.deferDelete([del(1), del(2)]);
    sw.throwNext = true;
    await expect(b.writeOrThrow([ins(5)])).rejects.toThrow(/the switch is gone/);
    expect(b.stats.failed).toBe(2);
    b.deferDelete([del(3)]);
    await b.flush();
    expect(sw.batches.at(-1)).toEqual(['DELETE handoff_out:3']);
    expect(b.pending).toBe(0);
    await turn();
    expect(sw.batches).toHaveLength(2);
  });
});
