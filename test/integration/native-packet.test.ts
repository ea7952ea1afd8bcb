/**
 * The prism_packet addon (AF_PACKET raw I/O on the event loop) and the switch's CpuPort against
 * the real kernel: 1000 frames of 60..9000 bytes each way over a veth between two namespaces,
 * PACKET_IGNORE_OUTGOING, VLAN tags kept, errors, fd hygiene, event-loop responsiveness, and the
 * CPU port's controller header in both directions. Needs root, iproute2 and the built addon
 * (`node_modules/.bin/node-gyp rebuild --directory native --nodedir=/usr`); skips with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyscallError } from '../../core/errors.js';
import {
  CONTROLLER_HEADER_BYTES,
  CpuPort,
  decodeControllerHeader,
  encodeControllerHeader,
  type PacketIn,
} from '../../dataplane/cpu-port.js';
import { PacketSocket, packetAddonPath, packetAddonUnavailableReason, type RawPacketHandle } from '../../native/packet.js';
import { run, skipReason, Topology, type Host, type Link } from '../../netns/index.js';
import { sleep, waitFor } from '../helpers/wait.js';

const reason = skipReason() ?? packetAddonUnavailableReason();
if (reason !== null) console.warn(`[native-packet] skipping: ${reason}`);

/** IEEE local experimental ethertype: frames of ours, told apart from anything the kernel sends. */
const ETHERTYPE = 0x88b5;
const MTU = 9000;
const FRAMES = 1000;
/** Frames in flight before the sender waits for the receiver (the receive buffer is 4 MiB). */
const WINDOW = 128;

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** Frame `seq` of a stream: dst, src, ETHERTYPE, u32 seq, random payload; `size` bytes in all. */
function makeFrame(dst: string, src: string, seq: number, size: number): Buffer {
  const f = randomBytes(size);
  macBytes(dst).copy(f, 0);
  macBytes(src).copy(f, 6);
  f.writeUInt16BE(ETHERTYPE, 12);
  f.writeUInt32BE(seq, 14);
  return f;
}

function isOurs(f: Buffer): boolean {
  if (f.length < 18) return false;
  const t = f.readUInt16BE(12);
  return t === ETHERTYPE || (t === 0x8100 && f.readUInt16BE(16) === ETHERTYPE);
}

function digest(frames: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const f of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    h.update(len).update(f);
  }
  return h.digest('hex');
}

/** 60..9000 bytes: both ends, then a spread over the range. */
function sizeOf(i: number): number {
  if (i === 0) return 60;
  if (i === FRAMES - 1) return MTU;
  return 60 + ((i * 7919) % (MTU - 60 + 1));
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}



/** Sends `frames` on `tx`, never more than WINDOW ahead of what `received` has collected. */
async function transfer(tx: PacketSocket, frames: readonly Buffer[], received: () => number): Promise<void> {
  let i = 0;
  while (i < frames.length) {
    while (i < frames.length && i - received() < WINDOW) tx.send(frames[i++]!);
    await waitFor(() => received() >= Math.min(i, frames.length) - WINDOW / 2, `frames up to ${i - WINDOW / 2}`);
  }
  await waitFor(() => received() >= frames.length, `all ${frames.length} frames (got ${received()})`);
}

describe.skipIf(reason !== null)('prism_packet: AF_PACKET raw I/O', () => {
  let topo: Topology;
  let a: Host;
  let b: Host;
  let link: Link;
  let sa: PacketSocket;
  let sb: PacketSocket;
  const gotA: Buffer[] = [];
  const gotB: Buffer[] = [];

  beforeAll(async () => {
    topo = new Topology();
    a = await topo.addHost('a');
    b = await topo.addHost('b');
    link = await topo.link(a, b, { mtu: MTU });
    sa = PacketSocket.open('eth0', { netns: a.netns });
    sb = PacketSocket.open('eth0', { netns: b.netns });
    sa.onFrames((fs) => gotA.push(...fs.filter(isOurs)));
    sb.onFrames((fs) => gotB.push(...fs.filter(isOurs)));
  });

  afterAll(async () => {
    sa?.close();
    sb?.close();
    await topo?.teardown();
  });

  it('opens a socket bound to the interface, with its fd and ifindex', async () => {
    expect(sa.fd).toBeGreaterThan(2);
    const { stdout } = await a.ip(['-o', 'link', 'show', 'dev', 'eth0']);
    expect(sa.ifindex).toBe(Number(stdout.split(':')[0]));
    expect(sa.closed).toBe(false);
    expect(sa.receiving).toBe(true);
  });

  it('moves 1000 frames of 60..9000 bytes a→b intact and in order, and a does not read its own sends', async () => {
    gotA.length = gotB.length = 0;
    const frames = Array.from({ length: FRAMES }, (_, i) => makeFrame(link.b.mac, link.a.mac, i, sizeOf(i)));
    const ticks: number[] = [];
    const iv = setInterval(() => ticks.push(performance.now()), 5);
    const t0 = performance.now();
    try {
      await transfer(sa, frames, () => gotB.length);
    } finally {
      clearInterval(iv);
    }
    const elapsed = performance.now() - t0;
    expect(gotB.length).toBe(FRAMES);
    expect(gotB.map((f) => f.readUInt32BE(14))).toEqual(frames.map((_, i) => i));
    expect(digest(gotB)).toBe(digest(frames));
    // PACKET_IGNORE_OUTGOING: none of a's own frames came back to a.
    await sleep(50);
    expect(gotA.length).toBe(0);
    expect(sa.stats()).toMatchObject({ sent: FRAMES, dropped: 0, errors: 0 });
    expect(sb.stats()).toMatchObject({ dropped: 0, truncated: 0, errors: 0 });
    expect(sb.stats().received).toBeGreaterThanOrEqual(FRAMES);
    // The event loop kept running timers while frames streamed in.
    const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!);
    console.info(`[native-packet] a→b ${FRAMES} frames in ${elapsed.toFixed(0)} ms, ${ticks.length} interval ticks, max gap ${Math.max(0, ...gaps).toFixed(1)} ms`);
    if (elapsed > 50) expect(ticks.length).toBeGreaterThan(0);
    expect(Math.max(0, ...gaps)).toBeLessThan(250);
  });

  it('moves 1000 frames b→a the same way', async () => {
    gotA.length = gotB.length = 0;
    const frames = Array.from({ length: FRAMES }, (_, i) => makeFrame(link.a.mac, link.b.mac, i, sizeOf(FRAMES - 1 - i)));
    await transfer(sb, frames, () => gotA.length);
    expect(gotA.length).toBe(FRAMES);
    expect(digest(gotA)).toBe(digest(frames));
    await sleep(50);
    expect(gotB.length).toBe(0);
  });

  it('reads 802.1Q-tagged frames with the tag where it was (not stripped into metadata)', async () => {
    gotB.length = 0;
    const f = makeFrame(link.b.mac, link.a.mac, 0, 200);
    f.writeUInt16BE(0x8100, 12); // TPID
    f.writeUInt16BE(0x2064, 14); // PCP 1, VID 100
    f.writeUInt16BE(ETHERTYPE, 16);
    sa.send(f);
    await waitFor(() => gotB.length === 1, 'the tagged frame');
    expect(gotB[0]!.equals(f)).toBe(true);
  });

  it('delivers a backlog in batches of at most 64, letting the event loop run between batches', async () => {
    sb.stop();
    expect(sb.receiving).toBe(false);
    const n = 2000;
    for (let i = 0; i < n; i++) sa.send(makeFrame(link.b.mac, link.a.mac, i, 60));
    let iterations = 0;
    let spinning = true;
    const spin = (): void => {
      iterations++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const batches: { size: number; iteration: number }[] = [];
    const got: Buffer[] = [];
    sb.onFrames((fs) => {
      const ours = fs.filter(isOurs);
      batches.push({ size: fs.length, iteration: iterations });
      got.push(...ours);
    });
    try {
      await waitFor(() => got.length >= n, `${n} backlogged frames (got ${got.length})`);
    } finally {
      spinning = false;
    }
    expect(got.map((f) => f.readUInt32BE(14))).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(Math.max(...batches.map((x) => x.size))).toBeLessThanOrEqual(64);
    expect(batches.length).toBeGreaterThanOrEqual(Math.ceil(n / 64));
    // Between two batches the loop went round (the setImmediate chain advanced).
    const stalls = batches.slice(1).filter((x, i) => x.iteration === batches[i]!.iteration).length;
    expect(stalls).toBe(0);
    expect(sb.stats().dropped).toBe(0);
    // back to the shared collector
    sb.onFrames((fs) => gotB.push(...fs.filter(isOurs)));
  });

  it('stop() inside a listener stops delivery; frames wait in the socket until onFrames again', async () => {
    const got: Buffer[] = [];
    sb.onFrames((fs) => {
      got.push(...fs.filter(isOurs));
      sb.stop();
    });
    sa.send(makeFrame(link.b.mac, link.a.mac, 1, 100));
    await waitFor(() => got.length === 1, 'the first frame');
    sa.send(makeFrame(link.b.mac, link.a.mac, 2, 100));
    await sleep(50);
    expect(got.length).toBe(1);
    expect(sb.receiving).toBe(false);
    sb.onFrames((fs) => got.push(...fs.filter(isOurs)));
    await waitFor(() => got.length === 2, 'the queued frame');
    expect(got[1]!.readUInt32BE(14)).toBe(2);
    sb.onFrames((fs) => gotB.push(...fs.filter(isOurs)));
  });

  it('throws typed errors', async () => {
    const syscall = (fn: () => unknown): SyscallError => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(SyscallError);
        return e as SyscallError;
      }
      throw new Error('did not throw');
    };
    let e = syscall(() => PacketSocket.open('nosuchif0', { netns: a.netns }));
    expect(e).toMatchObject({ code: 'PRISM_ERR_SYSCALL', errnoName: 'ENODEV', op: 'ioctl(SIOCGIFINDEX)' });
    expect(e.errno).toBeGreaterThan(0);
    e = syscall(() => PacketSocket.open('eth0', { netns: 'prism-no-such-netns' }));
    expect(e).toMatchObject({ errnoName: 'ENOENT', op: 'open(netns)' });
    expect(e.message).toContain('/var/run/netns/prism-no-such-netns');
    // eth0 exists only inside the namespaces, not here.
    e = syscall(() => PacketSocket.open(link.vethNames[0]));
    expect(e.errnoName).toBe('ENODEV');

    // frames the kernel refuses
    expect(syscall(() => sa.send(Buffer.alloc(10))).errnoName).toBe('EINVAL');
    expect(syscall(() => sa.send(Buffer.alloc(MTU + 14 + 1))).errnoName).toBe('EMSGSIZE');

    // closed socket
    const s = PacketSocket.open('eth0', { netns: a.netns });
    s.close();
    s.close(); // idempotent
    expect(s.closed).toBe(true);
    e = syscall(() => s.send(makeFrame(link.b.mac, link.a.mac, 0, 60)));
    expect(e).toMatchObject({ errnoName: 'EBADF', op: 'send' });
    expect(syscall(() => s.onFrames(() => {})).errnoName).toBe('EBADF');
    s.stop(); // fine on a closed socket
    expect(s.stats()).toMatchObject({ closed: true, receiving: false });

    // argument types
    const bad = (fn: () => unknown, ctor: typeof TypeError | typeof RangeError, code: string): void => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(ctor);
        expect((err as { code?: string }).code).toBe(code);
        return;
      }
      throw new Error('did not throw');
    };
    const T = 'ERR_INVALID_ARG_TYPE';
    const R = 'ERR_OUT_OF_RANGE';
    bad(() => PacketSocket.open(42 as unknown as string), TypeError, T);
    bad(() => PacketSocket.open('eth0', 'ns' as unknown as object), TypeError, T);
    bad(() => PacketSocket.open('eth0', { netns: 5 as unknown as string }), TypeError, T);
    bad(() => PacketSocket.open('eth0', { rcvbuf: -1 }), RangeError, R);
    bad(() => PacketSocket.open(''), RangeError, R);
    bad(() => PacketSocket.open('a-very-long-ifname'), RangeError, R);
    bad(() => PacketSocket.open('eth\0'), TypeError, T);
    bad(() => sa.send('frame' as unknown as Buffer), TypeError, T);
    bad(() => sa.send({ length: 60 } as unknown as Buffer), TypeError, T);
    // the raw addon refuses anything but its own handles
    const raw = createRequire(import.meta.url)(packetAddonPath()!) as {
      send(h: unknown, f: Buffer): number;
      startReceive(h: RawPacketHandle, cb: unknown): void;
    };
    bad(() => raw.send({ fd: sa.fd, ifindex: sa.ifindex }, Buffer.alloc(60)), TypeError, T);
    bad(() => raw.send(undefined, Buffer.alloc(60)), TypeError, T);
    expect(() => sa.onFrames(null as unknown as () => void)).toThrow(TypeError);
  });

  it('leaks no fds over 50 open / receive / close cycles', () => {
    const before = fdCount();
    for (let i = 0; i < 50; i++) {
      const s = PacketSocket.open('eth0', { netns: i % 2 ? a.netns : b.netns });
      s.onFrames(() => {});
      if (i % 3 === 0) s.stop();
      s.close();
    }
    expect(fdCount()).toBe(before);
  });

  /** Runs a CommonJS snippet in a child node with `addon` = the raw addon and `netns` = a's namespace. */
  function child(code: string, timeoutMs: number, args: readonly string[] = []): ReturnType<typeof spawnSync> {
    const prelude = `const addon = require(${JSON.stringify(packetAddonPath())}); const netns = ${JSON.stringify(a.netns)};`;
    return spawnSync(process.execPath, [...args, '-e', `${prelude}\n${code}`], { encoding: 'utf8', timeout: timeoutMs });
  }

  it('a receiving socket keeps the process alive unless unref()ed; exit with sockets open is clean', () => {
    const open = `const h = addon.open('eth0', { netns }); addon.startReceive(h, () => {});`;
    const unrefd = child(`${open} addon.setRef(h, false); process.on('exit', () => console.log('exited'));`, 10_000);
    expect(unrefd.status).toBe(0);
    expect(unrefd.stdout).toContain('exited');
    const refd = child(open, 1_000);
    expect(refd.signal).toBe('SIGTERM'); // still running when the timeout killed it
    const exiting = child(`${open} const h2 = addon.open('eth0', { netns }); setTimeout(() => process.exit(3), 20);`, 10_000);
    expect(exiting.status).toBe(3);
    expect(exiting.stderr).toBe('');
  });

  it('an exception thrown by a listener is an uncaught exception', () => {
    const r = child(
      `const tx = addon.open('eth0', { netns: ${JSON.stringify(b.netns)} });
       const rx = addon.open('eth0', { netns });
       process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
       addon.startReceive(rx, () => { throw new Error('boom'); });
       const f = Buffer.alloc(60); f.writeUInt16BE(${ETHERTYPE}, 12); addon.send(tx, f);`,
      10_000,
    );
    expect(r.status, String(r.stderr)).toBe(0);
    expect(r.stdout).toContain('uncaught: boom');
  });

  it('reports ENETDOWN to onError when the interface goes down, and receives again once it is up', async () => {
    const errors: SyscallError[] = [];
    const got: Buffer[] = [];
    // (seq 9 only: the child processes above also sent frames to a while spawnSync held the loop)
    sa.onFrames((fs) => got.push(...fs.filter((f) => isOurs(f) && f.readUInt32BE(14) === 9)), (e) => errors.push(e));
    await a.ip(['link', 'set', 'dev', 'eth0', 'down']);
    await waitFor(() => errors.length > 0, 'ENETDOWN');
    expect(errors[0]).toMatchObject({ code: 'PRISM_ERR_SYSCALL', errnoName: 'ENETDOWN', op: 'recv(SO_ERROR)' });
    expect(sa.stats().errors).toBeGreaterThanOrEqual(1);
    expect(sa.receiving).toBe(true);
    await a.ip(['link', 'set', 'dev', 'eth0', 'up']);
    await b.ip(['link', 'set', 'dev', 'eth0', 'up']);
    // carrier comes back asynchronously: resend until one arrives
    await waitFor(() => {
      if (got.length === 0) sb.send(makeFrame(link.a.mac, link.b.mac, 9, 100));
      return got.length > 0;
    }, 'a frame after the link came back');
    expect(got[0]!.readUInt32BE(14)).toBe(9);
  });

  it('the GC finalizer closes forgotten sockets; a worker ending with a receiving socket is clean', () => {
    const gc = child(
      `const fds = () => require('fs').readdirSync('/proc/self/fd').length;
       const before = fds();
       (() => { for (let i = 0; i < 20; i++) { const h = addon.open('eth0', { netns }); if (i % 2) { addon.startReceive(h, () => {}); addon.stopReceive(h); } } })();
       const opened = fds();
       (async () => { for (let i = 0; i < 20 && fds() > before; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
         console.log(JSON.stringify({ before, opened, after: fds() })); })();`,
      20_000,
      ['--expose-gc'],
    );
    expect(gc.status, String(gc.stderr)).toBe(0);
    const r = JSON.parse(String(gc.stdout)) as { before: number; opened: number; after: number };
    expect(r.opened).toBe(r.before + 20);
    expect(r.after).toBe(r.before);

    const worker = child(
      `const { Worker } = require('worker_threads');
       const w = new Worker(${JSON.stringify(`const addon = require(${JSON.stringify(packetAddonPath())});
         const h = addon.open('eth0', { netns: ${JSON.stringify(a.netns)} }); addon.startReceive(h, () => {});
         require('worker_threads').parentPort.postMessage('ready');`)}, { eval: true });
       w.on('message', async () => { await w.terminate(); console.log('terminated'); });`,
      20_000,
    );
    expect(worker.status, String(worker.stderr)).toBe(0);
    expect(worker.stdout).toContain('terminated');
  });
});

describe('controller header', () => {
  it('is a 9-bit port followed by 7 zero bits, big-endian', () => {
    expect(CONTROLLER_HEADER_BYTES).toBe(2);
    expect([...encodeControllerHeader(0)]).toEqual([0, 0]);
    expect([...encodeControllerHeader(1)]).toEqual([0x00, 0x80]);
    expect([...encodeControllerHeader(5)]).toEqual([0x02, 0x80]);
    expect([...encodeControllerHeader(511)]).toEqual([0xff, 0x80]);
    expect(() => encodeControllerHeader(512)).toThrow(/9-bit/);
    expect(() => encodeControllerHeader(-1)).toThrow();
    expect(() => encodeControllerHeader(1.5)).toThrow();
    for (const p of [0, 1, 5, 7, 255, 256, 511]) expect(decodeControllerHeader(encodeControllerHeader(p))).toBe(p);
    expect(decodeControllerHeader(Buffer.from([0x03, 0xff, 0xaa]))).toBe(7); // padding bits ignored
    expect(() => decodeControllerHeader(Buffer.from([1]))).toThrow();
  });
});

describe.skipIf(reason !== null)('CpuPort', () => {
  let topo: Topology;
  let sw: Host;

  beforeAll(async () => {
    topo = new Topology();
    sw = await topo.addHost('sw');
  });

  afterAll(async () => {
    await topo?.teardown();
  });

  it('frames packet-outs and packet-ins with the controller header, and close() removes the veths', async () => {
    const cpu = await CpuPort.create({ netns: sw.netns });
    expect(cpu.ifname).toBe('cpu0');
    expect(cpu.dataplaneIfname).toBe('cpu1');
    for (const dev of ['cpu0', 'cpu1']) {
      const { stdout } = await sw.ip(['-o', 'link', 'show', 'dev', dev]);
      expect(stdout).toMatch(/mtu 9000/);
      expect(stdout).toMatch(/state UP|LOWER_UP/);
    }
    // The switch program's side of the CPU port.
    const dp = PacketSocket.open('cpu1', { netns: sw.netns });
    const atDp: Buffer[] = [];
    dp.onFrames((fs) => atDp.push(...fs));
    try {
      // packet-out: controller → cpu0 → cpu1 as header(5) + frame
      const frame = makeFrame('02:00:00:00:00:02', '02:00:00:00:00:01', 42, 1000);
      expect(cpu.sendPacketOut(5, frame)).toBe(frame.length + 2);
      await waitFor(() => atDp.length >= 1, 'the packet-out at cpu1');
      expect(atDp[0]!.equals(Buffer.concat([Buffer.from([0x02, 0x80]), frame]))).toBe(true);
      const big = makeFrame('02:00:00:00:00:02', '02:00:00:00:00:01', 43, 9000 + 14 - 2);
      cpu.sendPacketOut(300, big);
      await waitFor(() => atDp.length >= 2, 'the big packet-out at cpu1');
      expect(decodeControllerHeader(atDp[1]!)).toBe(300);
      expect(atDp[1]!.subarray(2).equals(big)).toBe(true);
      expect(() => cpu.sendPacketOut(512, frame)).toThrow(/9-bit/);
      expect(() => cpu.sendPacketOut(1, Buffer.alloc(13))).toThrow(/Ethernet header/);

      // packet-in: cpu1 (the data plane) → cpu0 → {ingressPort, payload}
      const seen: PacketIn[] = [];
      const unsubscribe = cpu.onPacketIn((p) => seen.push(p));
      const it = cpu.packetIns();
      const payloads = [60, 1514, 9000].map((n, i) => makeFrame('02:00:00:00:00:01', '02:00:00:00:00:02', i, n - 2));
      for (const p of payloads) dp.send(Buffer.concat([encodeControllerHeader(7), p]));
      dp.send(Buffer.alloc(15, 0xee)); // 2 + 13 bytes: malformed
      for (const p of payloads) {
        const r = await it.next();
        expect(r.done).toBe(false);
        expect(r.value!.ingressPort).toBe(7);
        expect(r.value!.payload.equals(p)).toBe(true);
      }
      await waitFor(() => cpu.stats().malformed === 1, 'the malformed frame to be counted');
      expect(seen.map((p) => p.ingressPort)).toEqual([7, 7, 7]);
      unsubscribe();

      // Nothing but our frames crossed the pair (no IPv6 DAD / router solicitations).
      await sleep(200);
      expect(atDp.length).toBe(2);
      expect(cpu.stats()).toMatchObject({ packetOuts: 2, packetIns: 3, malformed: 1, unclaimed: 0, overflowed: 0 });
      expect(cpu.stats().socket).toMatchObject({ received: 4, sent: 2, dropped: 0 });

      // close ends iterators and removes both ends
      const pending = it.next();
      await cpu.close();
      expect(await pending).toEqual({ value: undefined, done: true });
      await cpu.close(); // idempotent
      expect(cpu.closed).toBe(true);
      for (const dev of ['cpu0', 'cpu1']) {
        await expect(run(['ip', '-n', sw.netns, 'link', 'show', 'dev', dev])).rejects.toThrow();
      }
      expect(() => cpu.sendPacketOut(1, frame)).toThrow(/closed/);
    } finally {
      dp.close();
    }
  });

  it('refuses a second CPU port with the same names, and leaves the first one alone', async () => {
    const cpu = await CpuPort.create({ netns: sw.netns, mtu: 1600 });
    try {
      await expect(CpuPort.create({ netns: sw.netns })).rejects.toMatchObject({ code: 'PRISM_ERR_ALREADY_EXISTS' });
      const { stdout } = await sw.ip(['-o', 'link', 'show', 'dev', 'cpu0']);
      expect(stdout).toMatch(/mtu 1600/);
    } finally {
      await cpu.close();
    }
  });

  it('close() does not fail when the namespace is already gone', async () => {
    const t2 = new Topology();
    const h = await t2.addHost('sw');
    const cpu = await CpuPort.create({ netns: h.netns, ifname: 'c0', dataplaneIfname: 'c1' });
    const errors: Error[] = [];
    cpu.onPacketIn(() => {}, (e) => errors.push(e));
    await t2.teardown();
    await cpu.close();
    expect(cpu.closed).toBe(true);
  });
});
