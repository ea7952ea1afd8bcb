/**
 * The prism_repair addon (TCP_REPAIR) and the agent's socket helpers against the real kernel, in
 * two namespaces (client 10.0.0.1, server 10.0.0.2) joined by a veth with MTU 1400:
 *   (a) freeze + dump + silent close of a live server socket, restore, data both ways, no RST;
 *   (b) unread receive-queue bytes survive dump/restore;
 *   (c) the server's TSval never goes backwards across freeze/restore (captured on the client);
 *   (d) MSS and window scale are kept;
 *   (e) a restored socket is served by a Node http.Server (the object server) one request at a
 *       time; a pipelined second request stays in the kernel and comes back as unread;
 *   (f) bad states give typed errors and leak no fd.
 * The client is a Node process inside the client namespace driven over stdin/stdout; the server
 * side runs in this process on sockets created inside the server namespace.
 * Needs root, iproute2, nstat and the built addons; skips with the reason otherwise.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, closeSync, readdirSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyscallError } from '../../core/errors.js';
import { createObjectServer } from '../../agent/object-server.js';
import { deterministicSha256 } from '../../agent/bytes.js';
import { freezeSocket, restoreSocket, socketFd } from '../../agent/repair-socket.js';
import { handToServer } from '../../agent/takeover.js';
import { packetAddonUnavailableReason, PacketSocket } from '../../native/packet.js';
import {
  closeSilently,
  dump,
  freeze,
  ipv4ToBytes,
  isRepair,
  leaveRepair,
  listenFd,
  queues,
  repairAddonUnavailableReason,
  restore,
  stateOf,
  tcpInfo,
  toConnectionState,
  fromConnectionState,
  type RestoreState,
} from '../../native/repair.js';
import { skipReason, Topology, type Host } from '../../netns/index.js';
import { sleep, waitFor } from '../helpers/wait.js';

function toolMissing(): string | null {
  return spawnSync('nstat', ['-V']).error ? 'nstat (iproute2) is not installed' : null;
}

const reason = skipReason() ?? repairAddonUnavailableReason() ?? packetAddonUnavailableReason() ?? toolMissing();
if (reason !== null) console.warn(`[native-repair] skipping: ${reason}`);

const CLIENT_IP = '10.0.0.1';
const SERVER_IP = '10.0.0.2';
const MTU = 1400;
const MSS = MTU - 40;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const fdCount = (): number => readdirSync('/proc/self/fd').length;


// ---------------------------------------------------------------------------------------------
// the client process (runs in the client namespace)

const CLIENT_SCRIPT = `
const net = require('net');
const [host, port] = process.argv.slice(1);
const chunks = []; let total = 0; const events = [];
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const s = net.connect({ host, port: Number(port) }, () => out({ ev: 'connected', localPort: s.localPort }));
s.on('data', (d) => { chunks.push(d); total += d.length; });
s.on('error', (e) => events.push('error:' + e.code));
s.on('end', () => events.push('end'));
s.on('close', () => events.push('close'));
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.op === 'send') s.write(Buffer.from(m.data, 'base64'), () => out({ id: m.id }));
  else if (m.op === 'stats') {
    const all = Buffer.concat(chunks);
    out({ id: m.id, total, sha: require('crypto').createHash('sha256').update(all).digest('hex'), events,
          data: m.withData ? all.toString('base64') : undefined });
  } else if (m.op === 'destroy') { s.destroy(); out({ id: m.id }); }
});
`;

interface ClientStats {
  total: number;
  sha: string;
  events: string[];
  data?: string;
}

class Client {
  readonly child: ChildProcess;
  localPort = 0;
  #next = 1;
  readonly #waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly #connected: Promise<void>;

  constructor(host: Host, port: number) {
    this.child = host.spawn([process.execPath, '-e', CLIENT_SCRIPT, SERVER_IP, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let onConnected!: () => void;
    this.#connected = new Promise((r) => (onConnected = r));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.ev === 'connected') {
        this.localPort = m.localPort as number;
        onConnected();
      } else if (typeof m.id === 'number') {
        this.#waiting.get(m.id)?.(m);
        this.#waiting.delete(m.id);
      }
    });
  }

  connected(): Promise<void> {
    return this.#connected;
  }

  #call(op: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ ...op, id }) + '\n');
    });
  }

  async send(data: Buffer): Promise<void> {
    await this.#call({ op: 'send', data: data.toString('base64') });
  }

  async stats(withData = false): Promise<ClientStats> {
    return (await this.#call({ op: 'stats', withData })) as unknown as ClientStats;
  }

  async received(): Promise<Buffer> {
    return Buffer.from((await this.stats(true)).data ?? '', 'base64');
  }

  async close(): Promise<void> {
    await this.#call({ op: 'destroy' });
    this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// packet capture: TCP segments seen on an interface

interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  flags: number;
  payload: number;
  tsval: number | null;
  at: number;
}

const FIN = 0x01;
const RST = 0x04;

function parseTcp(frame: Buffer): Segment | null {
  if (frame.length < 14 + 20 + 20 || frame.readUInt16BE(12) !== 0x0800) return null;
  const ip = frame.subarray(14);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[9] !== 6) return null;
  const totalLen = ip.readUInt16BE(2);
  const tcp = ip.subarray(ihl);
  const doff = (tcp[12]! >> 4) * 4;
  let tsval: number | null = null;
  for (let i = 20; i < doff; ) {
    const kind = tcp[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = tcp[i + 1]!;
    if (len < 2) break;
    if (kind === 8 && len === 10) tsval = tcp.readUInt32BE(i + 2);
    i += len;
  }
  return {
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    seq: tcp.readUInt32BE(4),
    flags: tcp[13]!,
    payload: totalLen - ihl - doff,
    tsval,
    at: Date.now(),
  };
}

class Capture {
  readonly segments: Segment[] = [];
  readonly #sock: PacketSocket;
  constructor(host: Host) {
    this.#sock = PacketSocket.open('eth0', { netns: host.netns });
    this.#sock.onFrames((frames) => {
      for (const f of frames) {
        const s = parseTcp(f);
        if (s) this.segments.push(s);
      }
    });
    this.#sock.unref();
  }
  of(port: number): Segment[] {
    return this.segments.filter((s) => s.srcPort === port || s.dstPort === port);
  }
  close(): void {
    this.#sock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// nstat counters of a namespace

async function counters(host: Host): Promise<Record<string, number>> {
  const { stdout } = await host.exec(['nstat', '-asz', 'TcpOutRsts', 'TcpExtTCPAbortOnData', 'TcpRetransSegs', 'TcpExtTCPAbortOnClose']);
  const r: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) r[k] = Number(v);
  }
  return r;
}

function delta(after: Record<string, number>, before: Record<string, number>, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(reason !== null)('prism_repair: TCP_REPAIR hand-off', () => {
  let topo: Topology;
  let client: Host;
  let server: Host;
  let capClient: Capture; // frames arriving at the client (server -> client)
  let capServer: Capture; // frames arriving at the server (client -> server)
  const listeners: NetServer[] = [];
  const clients: Client[] = [];
  let nextPort = 8080;

  beforeAll(async () => {
    topo = new Topology();
    client = await topo.addHost('client');
    server = await topo.addHost('server');
    const link = await topo.link(client, server, { mtu: MTU });
    await client.addAddress('eth0', `${CLIENT_IP}/24`);
    await server.addAddress('eth0', `${SERVER_IP}/24`);
    await client.addNeighbor(SERVER_IP, link.b.mac, 'eth0');
    await server.addNeighbor(CLIENT_IP, link.a.mac, 'eth0');
    capClient = new Capture(client);
    capServer = new Capture(server);
  });

  afterAll(async () => {
    for (const c of clients) c.child.kill();
    for (const l of listeners) l.close();
    capClient?.close();
    capServer?.close();
    await topo?.teardown();
  });

  /** A server socket inside the server namespace (paused: Node reads nothing) and its client. */
  async function connection(): Promise<{ port: number; sock: Socket; cli: Client }> {
    const port = nextPort++;
    const lfd = listenFd(SERVER_IP, port, { netns: server.netns });
    const srv = createNetServer({ pauseOnConnect: true });
    listeners.push(srv);
    const accepted = new Promise<Socket>((r) => srv.once('connection', r));
    await new Promise<void>((r) => srv.listen({ fd: lfd }, r));
    const cli = new Client(client, port);
    clients.push(cli);
    const sock = await accepted;
    await cli.connected();
    sock.on('error', () => {});
    return { port, sock, cli };
  }

  /** Server socket written until the client has `n` bytes and the kernel has them all ACKed. */
  async function settle(fd: number, cli: Client, total: number): Promise<void> {
    await waitFor(async () => (await cli.stats()).total >= total, `client to receive ${total} bytes`);
    await waitFor(() => queues(fd).outq === 0, 'every byte acknowledged');
  }

  it('(a,b,c,d) freeze + dump + silent close + restore: data both ways, unread bytes kept, TSval monotonic, MSS/wscale kept, no RST', async () => {
    const { port, sock, cli } = await connection();
    const cBefore = await counters(client);
    const sBefore = await counters(server);
    const fd0 = socketFd(sock);

    // Before: 100 KiB server -> client; 5000 bytes client -> server that the server never reads.
    const down1 = randomBytes(100 * 1024);
    const up1 = randomBytes(5000);
    sock.write(down1);
    await settle(fd0, cli, down1.length);
    await cli.send(up1);
    await waitFor(() => queues(fd0).inq === up1.length, 'the client bytes in the server receive queue');
    await sleep(60); // the server's (delayed) ACK for them has gone out
    const infoBefore = queues(fd0);
    expect(infoBefore.outq).toBe(0);

    const frozenAt = Date.now();
    const segsBefore = capClient.of(port).length;
    const frozen = freezeSocket(sock);
    const st = frozen.state;
    // (b) the unread bytes come back, in order, ending at rcvNxt
    expect(frozen.unread.equals(up1)).toBe(true);
    expect(frozen.dump.recvQueue.equals(up1)).toBe(true);
    expect(frozen.dump.unackedBytes).toBe(0);
    expect(frozen.dump.sendQueueBytes).toBe(0);
    expect(st.sndNxt).toBe(st.sndUna);
    // (d) what the handshake negotiated
    expect(st.mss).toBe(MSS);
    expect(st.sackPermitted).toBe(true);
    expect(st.timestampsEnabled).toBe(true);
    expect(st.wscaleOk).toBe(true);
    expect(st.sndWscale).toBeGreaterThan(0);
    expect(st.rcvWscale).toBeGreaterThan(0);
    expect(Buffer.from(st.clientIp).equals(ipv4ToBytes(CLIENT_IP))).toBe(true);
    expect(st.clientPort).toBe(cli.localPort);
    expect(st.vipPort).toBe(port);
    // the record maps 1:1 onto control.proto's ConnectionState
    const back = fromConnectionState(toConnectionState(st), st.recvQueue);
    expect(back).toEqual({ ...st, clientIp: Buffer.from(st.clientIp), vipIp: Buffer.from(st.vipIp) });

    // The silent close sent nothing.
    await sleep(100);
    expect(capClient.of(port).slice(segsBefore).filter((s) => s.srcPort === port)).toEqual([]);

    // Restore in the same namespace, a little later (the TS clock must continue, not restart).
    const restored = restoreSocket(st, frozen.unread, { netns: server.netns });
    const fd1 = socketFd(restored);
    restored.on('error', () => {});
    const got: Buffer[] = [];
    restored.on('data', (d: Buffer) => got.push(d));

    // (d) the restored socket has the same MSS and scales as the original
    const info1 = tcpInfo(fd1);
    expect(info1.sndWscale).toBe(st.sndWscale);
    expect(info1.rcvWscale).toBe(st.rcvWscale);
    expect(info1.sndMss).toBe(frozen.dump.tcpInfo.sndMss);

    // Data both ways: 1 MiB down, 7000 up (after the 5000 restored ones).
    const down2 = randomBytes(1024 * 1024);
    const up2 = randomBytes(7000);
    restored.write(down2);
    await cli.send(up2);
    await settle(fd1, cli, down1.length + down2.length);
    await waitFor(() => Buffer.concat(got).length >= up1.length + up2.length, 'the server to read 12000 bytes');
    expect(sha(Buffer.concat(got))).toBe(sha(Buffer.concat([up1, up2])));
    const cs = await cli.stats();
    expect(cs.total).toBe(down1.length + down2.length);
    expect(cs.sha).toBe(sha(Buffer.concat([down1, down2])));
    expect(cs.events).toEqual([]);

    // (c) TSval from the server never goes backwards, and continues from where it was.
    const fromServer = capClient.of(port).filter((s) => s.srcPort === port && s.tsval !== null);
    expect(fromServer.length).toBeGreaterThan(10);
    for (let i = 1; i < fromServer.length; i++) {
      const d = (fromServer[i]!.tsval! - fromServer[i - 1]!.tsval!) | 0;
      expect(d, `TSval step ${i}: ${fromServer[i - 1]!.tsval} -> ${fromServer[i]!.tsval}`).toBeGreaterThanOrEqual(0);
    }
    const lastBefore = fromServer.filter((s) => s.at < frozenAt).at(-1)!;
    const firstAfter = fromServer.find((s) => s.at > frozenAt)!;
    expect((firstAfter.tsval! - lastBefore.tsval!) | 0).toBeLessThan(Date.now() - frozenAt + 1000);

    // Freeze the restored socket again: same negotiated parameters.
    const again = freezeSocket(restored);
    expect(again.state.mss).toBe(st.mss);
    expect(again.state.sndWscale).toBe(st.sndWscale);
    expect(again.state.rcvWscale).toBe(st.rcvWscale);
    expect(again.state.sndNxt).toBe((st.sndNxt + down2.length) >>> 0);
    expect(again.state.rcvNxt).toBe((st.rcvNxt + up2.length) >>> 0);
    expect(again.unread.length).toBe(0);
    expect((again.state.tsVal - st.tsVal) | 0).toBeGreaterThanOrEqual(0);

    // No RST anywhere, no abort, no retransmission storm.
    await sleep(100);
    const cAfter = await counters(client);
    const sAfter = await counters(server);
    expect(delta(cAfter, cBefore, 'TcpOutRsts')).toBe(0);
    expect(delta(sAfter, sBefore, 'TcpOutRsts')).toBe(0);
    expect(delta(cAfter, cBefore, 'TcpExtTCPAbortOnData')).toBe(0);
    expect(delta(sAfter, sBefore, 'TcpExtTCPAbortOnData')).toBe(0);
    expect(delta(sAfter, sBefore, 'TcpRetransSegs')).toBeLessThanOrEqual(3);
    expect(delta(cAfter, cBefore, 'TcpRetransSegs')).toBeLessThanOrEqual(3);
    const all = [...capClient.of(port), ...capServer.of(port)];
    expect(all.filter((s) => s.flags & RST)).toEqual([]);
    expect(all.filter((s) => s.flags & FIN)).toEqual([]);
    expect((await cli.stats()).events).toEqual([]);
  });

  it('(b) a large unread receive queue (MiBs) survives dump/restore (written in chunks)', async () => {
    // A large receive buffer, so that megabytes queue up while nobody reads.
    const rmem = (await server.exec(['sysctl', '-n', 'net.ipv4.tcp_rmem'])).stdout.trim().split(/\s+/).join(' ');
    await server.sysctl('net.ipv4.tcp_rmem', '4096 8388608 16777216');
    let conn: Awaited<ReturnType<typeof connection>>;
    try {
      conn = await connection();
    } finally {
      await server.sysctl('net.ipv4.tcp_rmem', rmem);
    }
    const { sock, cli } = conn;
    const fd = socketFd(sock);
    const frozen0 = (() => {
      freeze(fd);
      const d = dump(fd);
      leaveRepair(fd, { windowProbe: false }); // freeze/unfreeze round trip on a live socket
      return d;
    })();
    expect(frozen0.recvQueue.length).toBe(0);
    expect(isRepair(fd)).toBe(false);
    const up = randomBytes(3 * 1024 * 1024);
    const sent = cli.send(up);
    // Node does not read (paused): the client can only send what fits the server's receive window.
    let last = -1;
    await waitFor(async () => {
      const now = queues(fd).inq;
      const stable = now === last && now > 0;
      last = now;
      await sleep(50);
      return stable;
    }, 'receive queue to stop growing');
    const frozen = freezeSocket(sock);
    const inq = frozen.unread.length;
    expect(inq).toBeGreaterThan(1024 * 1024);
    if (process.env.PRISM_TEST_VERBOSE) console.log(`[native-repair] restoring ${inq} unread bytes`);
    expect(frozen.unread.equals(up.subarray(0, inq))).toBe(true);
    const restored = restoreSocket(frozen.state, frozen.unread, { netns: server.netns });
    restored.on('error', () => {});
    const got: Buffer[] = [];
    restored.on('data', (d: Buffer) => got.push(d));
    await sent;
    await waitFor(() => got.reduce((n, b) => n + b.length, 0) >= up.length, 'all 3 MiB at the restored server', 20_000);
    expect(sha(Buffer.concat(got))).toBe(sha(up));
    expect((await cli.stats()).events).toEqual([]);
    const f = freezeSocket(restored);
    expect(f.unread.length).toBe(0);
  });

  it('(e) a Node http.Server (object server) serves a request restored into the receive queue; the pipelined next one stays unread', async () => {
    const { port, sock, cli } = await connection();
    const cBefore = await counters(client);
    const fd0 = socketFd(sock);
    const req1 = Buffer.from(`GET /bytes/300000?seed=7 HTTP/1.1\r\nHost: vip\r\nUser-Agent: prism-test\r\n\r\n`);
    const req2 = Buffer.from(`GET /bytes/1000?seed=9 HTTP/1.1\r\nHost: vip\r\n\r\n`);
    await cli.send(Buffer.concat([req1, req2])); // both before the freeze
    await waitFor(() => queues(fd0).inq === req1.length + req2.length, 'both requests queued at the server');
    await sleep(60);
    const frozen = freezeSocket(sock);
    expect(frozen.unread.equals(Buffer.concat([req1, req2]))).toBe(true);

    const app = createObjectServer({ name: 'backend-1' });
    const s1 = restoreSocket(frozen.state, frozen.unread, { netns: server.netns, startReading: false });
    s1.on('error', () => {});
    const r1 = await handToServer(app, s1, { timeoutMs: 10_000 });
    expect(r1.bytesReceived).toBe(req1.length);
    expect(r1.statusCode).toBe(200);
    expect(r1.requestLine).toBe('GET /bytes/300000?seed=7 HTTP/1.1');
    expect(r1.closeRequested).toBe(false);
    expect(queues(socketFd(s1)).outq).toBe(0);

    // The response reached the client intact.
    const body1 = await parseResponse(cli, 0);
    expect(body1.status).toBe(200);
    expect(body1.headers['x-backend']).toBe('backend-1');
    expect(body1.headers['x-content-sha256']).toBe(deterministicSha256(300000, 7));
    expect(sha(body1.body)).toBe(deterministicSha256(300000, 7));
    expect(r1.bytesSent).toBe(body1.raw);

    // Release: the second request comes back as unread, byte for byte.
    const f1 = freezeSocket(s1);
    expect(f1.unread.equals(req2)).toBe(true);
    expect(f1.dump.unackedBytes).toBe(0);

    // Hand it to the server again (as another backend would).
    const s2 = restoreSocket(f1.state, f1.unread, { netns: server.netns, startReading: false });
    s2.on('error', () => {});
    const r2 = await handToServer(app, s2);
    expect(r2.bytesReceived).toBe(req2.length);
    const body2 = await parseResponse(cli, body1.raw);
    expect(sha(body2.body)).toBe(deterministicSha256(1000, 9));
    const f2 = freezeSocket(s2);
    expect(f2.unread.length).toBe(0);

    await sleep(100);
    const cAfter = await counters(client);
    expect(delta(cAfter, cBefore, 'TcpOutRsts')).toBe(0);
    expect([...capClient.of(port), ...capServer.of(port)].filter((s) => s.flags & (RST | FIN))).toEqual([]);
    expect((await cli.stats()).events).toEqual([]);
  });

  it('(e) a PUT whose body is still arriving during the takeover: exactly Content-Length bytes are fed, the next request stays unread', async () => {
    const { sock, cli } = await connection();
    const fd0 = socketFd(sock);
    const body = randomBytes(200_000);
    const head = Buffer.from(`PUT /objects/blob HTTP/1.1\r\nHost: vip\r\nContent-Length: ${body.length}\r\n\r\n`);
    const next = Buffer.from(`GET /objects/blob HTTP/1.1\r\nHost: vip\r\n\r\n`);
    await cli.send(Buffer.concat([head, body.subarray(0, 1000)]));
    await waitFor(() => queues(fd0).inq === head.length + 1000, 'head and 1000 body bytes queued');
    await sleep(60);
    const frozen = freezeSocket(sock);
    const app = createObjectServer({ name: 'backend-2' });
    const s1 = restoreSocket(frozen.state, frozen.unread, { netns: server.netns, startReading: false });
    s1.on('error', () => {});
    const served = handToServer(app, s1, { timeoutMs: 10_000 });
    await sleep(20);
    await cli.send(Buffer.concat([body.subarray(1000), next])); // the rest of the body, then a pipelined GET
    const r = await served;
    expect(r.statusCode).toBe(201);
    expect(r.bytesReceived).toBe(head.length + body.length);
    const res = await parseResponse(cli, 0);
    expect(res.status).toBe(201);
    expect(res.headers['x-content-sha256']).toBe(sha(body));
    await waitFor(() => queues(socketFd(s1)).inq === next.length, 'the GET in the kernel queue');
    const f = freezeSocket(s1);
    expect(f.unread.equals(next)).toBe(true);
    expect((await cli.stats()).events).toEqual([]);
  });

  it('(f) bad states: typed errors, no fd leak over 50 failing restores', async () => {
    const good: RestoreState = {
      clientIp: ipv4ToBytes(CLIENT_IP),
      clientPort: 40000,
      vipIp: ipv4ToBytes(SERVER_IP),
      vipPort: 9999,
      sndNxt: 1000,
      rcvNxt: 2000,
      sndUna: 1000,
      sndWnd: 65535,
      rcvWnd: 65535,
      sndWscale: 7,
      rcvWscale: 7,
      mss: 1360,
      sackPermitted: true,
      timestampsEnabled: true,
      tsVal: 12345,
      tsRecent: 0,
      sndWl1: 2000,
      maxWindow: 65535,
      rcvWup: 2000,
    };
    const opts = { netns: server.netns };
    // warm up lazily-opened fds (addon, namespaces) before counting
    closeSilently(restore(good, opts));
    const before = fdCount();
    for (let i = 0; i < 50; i++) {
      expect(() => restore({ ...good, clientIp: Buffer.from([10, 0, 0]) }, opts)).toThrow(RangeError);
      expect(() => restore({ ...good, clientPort: 70000 }, opts)).toThrow(RangeError);
      expect(() => restore({ ...good, sndUna: 999 }, opts)).toThrow(/unacknowledged data/);
      expect(() => restore({ ...good, wscaleOk: false }, opts)).toThrow(RangeError);
      expect(() => restore({ ...good, mss: 20 }, opts)).toThrow(RangeError);
      expect(() => restore({ ...good, clientIp: 'x' as unknown as Uint8Array }, opts)).toThrow(TypeError);
      expect(() => restore(null as unknown as RestoreState, opts)).toThrow(TypeError);
      try {
        restore({ ...good, clientIp: ipv4ToBytes('224.0.0.1') }, opts);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(SyscallError);
        expect((e as SyscallError).code).toBe('PRISM_ERR_SYSCALL');
        expect((e as SyscallError).op).toBe('connect');
      }
      try {
        restore({ ...good, maxWindow: 100 }, opts);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(SyscallError);
        expect((e as SyscallError).op).toBe('setsockopt(TCP_REPAIR_WINDOW)');
        expect((e as SyscallError).errnoName).toBe('EINVAL');
      }
      try {
        restore({ ...good, sndWl1: 2000 + 10_000_000 }, opts);
        expect.unreachable();
      } catch (e) {
        expect((e as SyscallError).op).toBe('setsockopt(TCP_REPAIR_WINDOW)');
      }
      try {
        restore(good, { netns: 'prism-no-such-namespace' });
        expect.unreachable();
      } catch (e) {
        expect((e as SyscallError).op).toBe('open(netns)');
        expect((e as SyscallError).errnoName).toBe('ENOENT');
      }
    }
    expect(fdCount()).toBe(before);

    // The good state restores (in repair mode), dumps, and closes without a sound.
    const segs = capClient.segments.length;
    const fd = restore({ ...good, recvQueue: Buffer.from('pending') }, opts);
    expect(isRepair(fd)).toBe(true);
    const d = dump(fd);
    expect(stateOf(d)).toMatchObject({ sndNxt: 1000, sndUna: 1000, rcvNxt: 2000, mss: 1360, sndWscale: 7, rcvWscale: 7, maxWindow: 65535 });
    expect(d.recvQueue.toString()).toBe('pending');
    expect(d.tsVal - 12345).toBeGreaterThanOrEqual(0);
    expect(d.tsVal - 12345).toBeLessThan(1000);
    closeSilently(fd);
    const noScale = restore({ ...good, sndWscale: 0, rcvWscale: 0, wscaleOk: false, clientPort: 40001 }, opts);
    const dn = dump(noScale);
    expect(dn.wscaleOk).toBe(false);
    expect(dn.tcpInfo.options & 4).toBe(0);
    closeSilently(noScale);
    await sleep(50);
    expect(capClient.segments.slice(segs).filter((s) => s.dstPort === 40000 || s.dstPort === 40001)).toEqual([]);

    // fd-level misuse
    expect(() => dump(-1)).toThrow(RangeError);
    expect(() => leaveRepair(1.5, { windowProbe: true })).toThrow(RangeError);
    const nul = openSync('/dev/null', 'r');
    try {
      expect(() => closeSilently(nul)).toThrow(SyscallError); // ENOTSOCK, and the fd stays open
      expect(() => dump(nul)).toThrow(SyscallError);
    } finally {
      closeSync(nul);
    }
    const lfd = listenFd(SERVER_IP, 9998, { netns: server.netns });
    try {
      expect(() => freeze(lfd)).toThrow(/EPERM/); // a listener cannot be repaired
    } finally {
      closeSync(lfd);
    }
  });
});

/** Reads one HTTP response from the client's received bytes starting at `offset`. */
async function parseResponse(
  cli: Client,
  offset: number,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer; raw: number }> {
  for (let tries = 0; tries < 5000; tries++) {
    const all = (await cli.received()).subarray(offset);
    const end = all.indexOf('\r\n\r\n');
    if (end >= 0) {
      const head = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(head[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of head.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (all.length >= end + 4 + len) return { status, headers, body: all.subarray(end + 4, end + 4 + len), raw: end + 4 + len };
    }
    await sleep(2);
  }
  throw new Error('no complete response');
}
