/**
 * BMv2's `--cpu-port`, checked against the real switch: without it PI does no packet I/O at all
 * (a to_controller frame makes no PacketIn, a PacketOut leaves no port, and neither says so on
 * the stream); with it both work. This is why stack/bmv2.ts always passes it.
 *
 * One port (a veth to a peer namespace with an AF_PACKET socket), the prism program compiled for
 * CPU port 64. Absence is shown by order: after the ARP request (to_controller) and the PacketOut,
 * the test sends a marker frame that the l3 table routes back out of port 0; BMv2's one ingress
 * thread has decided the earlier frames when the marker comes out, and a PacketOut is queued in
 * the same input buffer. Skips (reason printed) without root, simple_switch_grpc, p4c or the
 * packet addon. Everything is removed in afterEach, whatever failed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasTool } from '../../codegen/p4c.js';
import { P4RuntimeClient } from '../../controller/p4rt/client.js';
import { bmv2DeviceConfig } from '../../controller/p4rt/device-config.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST } from '../../core/header/arp.js';
import { buildArpFrame, buildTcpFrame } from '../../core/header/frame.js';
import { TCP_ACK } from '../../core/header/tcp.js';
import { decodeMessage } from '../../core/proto.js';
import { PacketSocket, packetAddonUnavailableReason } from '../../native/packet.js';
import { Topology, isRoot } from '../../netns/index.js';
import { bmv2Program } from '../../stack/bmv2.js';
import { REPO } from '../helpers/ebpf.js';

const missing = ['p4c', 'simple_switch_grpc'].filter((c) => !hasTool(c));
const reason = !isRoot()
  ? 'needs root for namespaces'
  : missing.length > 0
    ? `${missing.join(' and ')} not on PATH (../shared/p4ref/install.sh installs the reference build)`
    : packetAddonUnavailableReason();
if (reason) console.warn(`[skip] BMv2 --cpu-port tests: ${reason}`);

const CPU_PORT = 64;
const EVENT_TIMEOUT_MS = 10_000;
const PEER_MAC = '02:00:00:00:00:01';
const MARKER_MAC = '02:00:00:00:33:33';

describe.skipIf(reason)('BMv2 packet I/O and --cpu-port', () => {
  let topo: Topology | undefined;
  let dir: string | undefined;
  let client: P4RuntimeClient | undefined;
  let sock: PacketSocket | undefined;

  afterEach(async () => {
    sock?.close();
    await client?.close();
    await topo?.teardown(); // ends simple_switch_grpc too
    if (dir) rmSync(dir, { recursive: true, force: true });
    sock = undefined;
    client = undefined;
    topo = undefined;
  });

  /** BMv2 with or without --cpu-port, the prism program pushed, a route back out of port 0. */
  async function start(cpuPortFlag: boolean): Promise<{ frames: Buffer[]; packetIns: Buffer[]; streamErrors: unknown[] }> {
    topo = new Topology();
    dir = mkdtempSync(join(tmpdir(), 'prism-bmcpu-'));
    const sw = await topo.addHost('bmcpu-sw');
    const peer = await topo.addHost('bmcpu-peer');
    for (const h of [sw, peer]) {
      await h.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
      await h.sysctl('net.ipv6.conf.default.disable_ipv6', '1');
    }
    await topo.link(sw, peer, { ifnameA: 's0', ifnameB: 'h0' });
    const path = join(dir, 'p4runtime.sock');
    let proc: ChildProcess | undefined;
    await new Promise<void>((resolve, reject) => {
      const watcher = watch(dir!, () => {
        if (existsSync(path)) done();
      });
      const timer = setTimeout(() => done(new Error(`no ${path} within ${EVENT_TIMEOUT_MS} ms: ${proc ? sw.stderrTail(proc) : ''}`)), EVENT_TIMEOUT_MS);
      function done(err?: Error): void {
        watcher.close();
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      }
      proc = sw.spawn(['simple_switch_grpc', '--no-p4', '--device-id', '1', '-i', '0@s0', '--', '--grpc-server-addr', `unix:${path}`, ...(cpuPortFlag ? ['--cpu-port', String(CPU_PORT)] : [])]);
      proc.once('exit', (code) => done(new Error(`simple_switch_grpc exited (${code}): ${sw.stderrTail(proc!)}`)));
    });
    client = await P4RuntimeClient.connect(`unix:${path}`, { deviceId: 1, electionId: 1 });
    await client.setPipeline({
      p4info: decodeMessage('p4.config.v1.P4Info', readFileSync(join(REPO, 'p4', 'p4info', 'prism.p4info.bin'))) as never,
      deviceConfig: bmv2DeviceConfig(readFileSync(bmv2Program(REPO, CPU_PORT))),
    });
    await client.insert({ table: 'l3', match: { 'hdr.ipv4.dst_addr': { value: '198.51.100.0', prefixLen: 24 } }, action: 'route', params: { port: 0, src_mac: '02:00:00:00:00:aa', dst_mac: MARKER_MAC } });
    const seen = { frames: [] as Buffer[], packetIns: [] as Buffer[], streamErrors: [] as unknown[] };
    client.on('packetIn', (p) => seen.packetIns.push(p.payload));
    client.on('streamError', (e) => seen.streamErrors.push(e));
    sock = PacketSocket.open('h0', { netns: peer.netns });
    sock.onFrames((fs) => seen.frames.push(...fs));
    return seen;
  }

  const isMarker = (f: Buffer): boolean => f.subarray(0, 6).equals(Buffer.from([0x02, 0, 0, 0, 0x33, 0x33]));
  const isArpReply = (f: Buffer): boolean => f.length >= 22 && f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === ARP_OP_REPLY;

  async function exchange(seen: { frames: Buffer[]; packetIns: Buffer[] }, waitPacketIn: boolean): Promise<void> {
    sock!.send(buildArpFrame({ op: ARP_OP_REQUEST, senderMac: PEER_MAC, senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.100', ethDst: 'ff:ff:ff:ff:ff:ff' }));
    client!.packetOut(buildArpFrame({ op: ARP_OP_REPLY, senderMac: '02:00:00:00:00:fe', senderIp: '10.0.0.100', targetMac: PEER_MAC, targetIp: '10.0.0.1', ethDst: PEER_MAC }), { egress_port: 0 });
    sock!.send(buildTcpFrame({ srcMac: PEER_MAC, dstMac: '02:00:00:00:00:aa', srcIp: '10.0.0.1', dstIp: '198.51.100.1', srcPort: 5000, dstPort: 9, seq: 1, ack: 0, flags: TCP_ACK, window: 100 }));
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (!seen.frames.some(isMarker) || (waitPacketIn && seen.packetIns.length === 0)) {
      if (Date.now() > deadline) throw new Error(`timed out: frames ${seen.frames.length}, PacketIns ${seen.packetIns.length}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('without --cpu-port: no PacketIn, a PacketOut leaves no port, no stream error', async () => {
    const seen = await start(false);
    await exchange(seen, false);
    expect(seen.packetIns).toHaveLength(0);
    expect(seen.frames.filter(isArpReply)).toHaveLength(0);
    expect(seen.streamErrors).toEqual([]);
  }, 60_000);

  it('with --cpu-port: the ARP request arrives as a PacketIn and the PacketOut leaves port 0', async () => {
    const seen = await start(true);
    await exchange(seen, true);
    expect(seen.packetIns[0]!.readUInt16BE(12)).toBe(0x0806);
    expect(seen.frames.filter(isArpReply)).toHaveLength(1);
  }, 60_000);
});
