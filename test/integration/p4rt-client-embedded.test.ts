/**
 * The controller's P4Runtime client against the real embedded switch (dataplane/p4rt-server.ts):
 * pipeline push of the compiled eBPF object, name-level writes and reads through BPF maps,
 * per-update errors, reconciliation, and reconnect + re-sync across a switch restart.
 * Needs root and clang (skipped otherwise, like the other eBPF tests).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P4RuntimeWriteError } from '../../core/errors.js';
import { P4RuntimeClient, type ReconcileReport } from '../../controller/p4rt/client.js';
import { embeddedDeviceConfig } from '../../controller/p4rt/device-config.js';
import { EmbeddedSwitch } from '../../dataplane/p4rt-server.js';
import { compileGenerated, ebpfSkipReason } from '../helpers/ebpf.js';
import { handoffEntry as handoff } from '../helpers/fixtures.js';

const skip = ebpfSkipReason();
const P4INFO_BIN = readFileSync(join(import.meta.dirname, '../../p4/p4info/prism.p4info.bin'));


function once<T>(client: P4RuntimeClient, event: 'disconnected' | 'reconciled', ms = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    client.once(event, ((arg: T) => {
      clearTimeout(t);
      resolve(arg);
    }) as never);
  });
}

describe.skipIf(skip !== null)('P4RuntimeClient against the embedded switch', () => {
  let obj: { path: string; cleanup: () => void };
  let sw: EmbeddedSwitch;
  let client: P4RuntimeClient;

  beforeAll(async () => {
    obj = compileGenerated('prism');
    sw = await EmbeddedSwitch.start({ grpcAddr: '127.0.0.1:0', deviceId: 1n, cpuPort: 64, ports: [] });
    client = await P4RuntimeClient.connect(sw.address, { deviceId: 1, electionId: 10, p4info: P4INFO_BIN, reconnect: { initialMs: 20, maxMs: 200 } });
  });

  afterAll(async () => {
    await client?.close();
    await sw?.stop();
    obj?.cleanup();
  });

  it('pushes the eBPF pipeline and writes and reads entries by name', async () => {
    expect(client.isPrimary).toBe(true);
    await client.setPipeline({ p4info: P4INFO_BIN, deviceConfig: embeddedDeviceConfig(readFileSync(obj.path)) });
    expect((await client.getPipeline('COOKIE_ONLY')).cookie).toMatch(/^\d+$/);
    await client.insert(handoff(40000), handoff(40001), {
      table: 'l3',
      match: { dst_addr: '10.0.1.0/24' },
      action: 'route',
      params: { port: 2, src_mac: '02:00:00:00:00:01', dst_mac: '02:00:00:00:01:02' },
    });
    const entries = await client.readAll({ table: 'handoff_in', counters: true });
    expect(entries.map((e) => e.match['hdr.tcp.src_port']!.toString('hex')).sort()).toEqual(['9c40', '9c41']);
    expect(entries[0]!.action).toBe('to_backend');
    expect(entries[0]!.params.port).toEqual(Buffer.from([2]));
    expect(entries[0]!.counters).toEqual({ bytes: 0n, packets: 0n });
    const route = await client.readAll({ table: 'l3' });
    expect(route[0]!.match['hdr.ipv4.dst_addr']).toEqual({ value: Buffer.from([10, 0, 1, 0]), prefixLen: 24 });
  });

  it('names the refused updates of a batch', async () => {
    const results = await client.write([
      { type: 'INSERT', entry: handoff(40000) },
      { type: 'INSERT', entry: handoff(40002) },
      { type: 'DELETE', entry: { table: 'handoff_in', match: handoff(49999).match! } },
    ]);
    expect(results.map((r) => (r.ok ? 'OK' : r.code))).toEqual(['ALREADY_EXISTS', 'OK', 'NOT_FOUND']);
    const err = await client.insert(handoff(40002)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P4RuntimeWriteError);
    expect((err as P4RuntimeWriteError).failures[0]!.entry).toContain('src_port=40002');
  });

  it('reconciles: a stray entry written by another controller is deleted', async () => {
    const other = await P4RuntimeClient.connect(sw.address, { deviceId: 1, electionId: 20, reconnect: false });
    expect(other.isPrimary).toBe(true);
    await other.insert(handoff(41000));
    const reconciled = once<ReconcileReport>(client, 'reconciled');
    await other.close();
    // As the spec says, nobody is primary until a controller claims an election id at least as high.
    expect(await client.claimPrimary(21)).toBe(true);
    const report = await reconciled;
    expect(report).toMatchObject({ deleted: 1, inserted: 0, failures: [] });
    expect((await client.readAll({ table: 'handoff_in' })).length).toBe(3);
  });

  it('reconnects after the switch restarts, re-pushes the pipeline and restores the entries', async () => {
    const address = sw.address;
    const down = once(client, 'disconnected');
    await sw.stop();
    await down;
    const reconciled = once<ReconcileReport>(client, 'reconciled');
    sw = await EmbeddedSwitch.start({ grpcAddr: address, deviceId: 1n, cpuPort: 64, ports: [] });
    const report = await reconciled;
    expect(report).toMatchObject({ inserted: 4, deleted: 0, failures: [] });
    expect((await client.readAll()).length).toBe(4);
  });
});

describe.skipIf(skip !== null)('the in-process Write channel (localWrite) of a co-located controller', () => {
  let obj: { path: string; cleanup: () => void };
  let sw: EmbeddedSwitch;
  let client: P4RuntimeClient;

  beforeAll(async () => {
    obj = compileGenerated('prism');
    sw = await EmbeddedSwitch.start({ grpcAddr: '127.0.0.1:0', deviceId: 1n, cpuPort: 64, ports: [] });
    client = await P4RuntimeClient.connect(sw.address, { deviceId: 1, electionId: 10, p4info: P4INFO_BIN, reconnect: false, localWrite: sw.localWrite });
    await client.setPipeline({ p4info: P4INFO_BIN, deviceConfig: embeddedDeviceConfig(readFileSync(obj.path)) });
  });

  afterAll(async () => {
    await client?.close();
    await sw?.stop();
    obj?.cleanup();
  });

  it('writes go to the switch without the RPC, and read back over gRPC as written', async () => {
    const before = sw.localWrites.calls;
    await client.insert(handoff(42000), handoff(42001));
    expect(sw.localWrites.calls).toBe(before + 1);
    const entries = await client.readAll({ table: 'handoff_in' });
    expect(entries.map((e) => e.match['hdr.tcp.src_port']!.toString('hex')).sort()).toEqual(['a410', 'a411']);
    expect(entries[0]!.params.port).toEqual(Buffer.from([2]));
  });

  it('refused updates come back per update, as from the RPC', async () => {
    const results = await client.write([
      { type: 'INSERT', entry: handoff(42000) },
      { type: 'INSERT', entry: handoff(42002) },
      { type: 'DELETE', entry: { table: 'handoff_in', match: handoff(49999).match! } },
    ]);
    expect(results.map((r) => (r.ok ? 'OK' : r.code))).toEqual(['ALREADY_EXISTS', 'OK', 'NOT_FOUND']);
    const err = await client.insert(handoff(42002)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P4RuntimeWriteError);
    expect((err as P4RuntimeWriteError).failures[0]!.entry).toContain('src_port=42002');
  });

  it('a controller that is not primary is refused, as by the RPC', async () => {
    const other = await P4RuntimeClient.connect(sw.address, { deviceId: 1, electionId: 20, reconnect: false });
    try {
      // `client` lost primacy to election id 20: its in-process write is checked like the RPC.
      const err = await client.insert(handoff(42003)).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('PRISM_ERR_P4RT_NOT_PRIMARY');
      expect((await other.readAll({ table: 'handoff_in' })).map((e) => e.match['hdr.tcp.src_port']!.toString('hex'))).not.toContain('a413');
    } finally {
      await other.close();
    }
  });
});
