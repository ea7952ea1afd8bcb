/**
 * The controller's TCP endpoint on one core (issue 5): handshakes per second (SYN → cookie
 * SYN-ACK → final ACK), small requests per second answered with the controller's 503 fallback,
 * and heap per idle established connection at 10,000 and 100,000 connections. The endpoint runs
 * in this process with its real clock and randomness; "clients" are packets built here (their
 * construction is included in the time, so the rates are a lower bound).
 */
import { randomBytes } from 'node:crypto';
import { HttpIntake } from '../controller/http/intake.js';
import { systemClock } from '../controller/tcp/clock.js';
import { TcpEndpoint } from '../controller/tcp/endpoint.js';
import { buildTcpFrame } from '../core/header/frame.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../core/header/tcp.js';
import type { BenchContext, BenchResult } from './bench-context.js';
import { settledHeap } from './heap.js';

const VIP = '10.0.0.100';
const CLIENT_MAC = '02:00:00:00:00:01';
const VIP_MAC = '02:00:00:00:00:fe';
/** Linux's SYN options: MSS 1460, SACK-permitted, timestamps, window scale 7. */
const SYN_OPTIONS = Buffer.from([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
const REQUEST = Buffer.from('GET /x HTTP/1.1\r\nHost: vip\r\n\r\n');

interface Peer {
  ip: string;
  port: number;
  seq: number;
  ack: number;
  tsEcr: number;
}

function ip(frame: Buffer): Buffer {
  return frame.subarray(14);
}

function tsOption(tsVal: number, tsEcr: number): Buffer {
  const b = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  b.writeUInt32BE(tsVal >>> 0, 4);
  b.writeUInt32BE(tsEcr >>> 0, 8);
  return b;
}

export async function runTcpBench(ctx: BenchContext): Promise<BenchResult> {
  let last: Buffer | null = null;
  let outputs = 0;
  const intake = new HttpIntake<null>(systemClock, { request: (_req, session) => session.respond503('bench') });
  const ep = new TcpEndpoint<null>({
    listeners: [{ ip: VIP, port: 80 }],
    clock: systemClock,
    random: { randomBytes: (n: number) => randomBytes(n) },
    output: (packet) => {
      last = packet;
      outputs++;
    },
    handler: intake,
    config: { maxConnections: 200_000 },
  });
  let ts = 1000;
  const peers: Peer[] = [];
  const handshake = (i: number): Peer | null => {
    const peer: Peer = { ip: `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000), seq: (i * 2654435761) >>> 0, ack: 0, tsEcr: 0 };
    last = null;
    ep.input(ip(buildTcpFrame({ srcMac: CLIENT_MAC, dstMac: VIP_MAC, srcIp: peer.ip, dstIp: VIP, srcPort: peer.port, dstPort: 80, seq: peer.seq, ack: 0, flags: TCP_SYN, window: 64240, options: SYN_OPTIONS })), { link: null });
    const synAck = last as Buffer | null;
    if (!synAck) return null;
    const tcp = synAck.subarray(20);
    peer.ack = (tcp.readUInt32BE(4) + 1) >>> 0;
    peer.seq = (peer.seq + 1) >>> 0;
    peer.tsEcr = findTsVal(tcp);
    ep.input(ip(buildTcpFrame({ srcMac: CLIENT_MAC, dstMac: VIP_MAC, srcIp: peer.ip, dstIp: VIP, srcPort: peer.port, dstPort: 80, seq: peer.seq, ack: peer.ack, flags: TCP_ACK, window: 502, options: tsOption(++ts, peer.tsEcr) })), { link: null });
    return peer;
  };

  ctx.progress('tcp endpoint: handshakes per second (SYN cookies), one core');
  const N = 50_000;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const p = handshake(i);
    if (p && i < 2000) peers.push(p);
  }
  let secs = (performance.now() - t0) / 1000;
  const handshakesPerSecond = N / secs;
  ctx.line(`  handshakes: ${handshakesPerSecond.toFixed(0)}/s (${N} in ${secs.toFixed(2)} s; established ${ep.connectionCount})`);

  ctx.progress('tcp endpoint: small requests per second answered with the 503 fallback');
  const R = 50_000;
  let answered = 0;
  t0 = performance.now();
  for (let i = 0; i < R; i++) {
    const p = peers[i % peers.length]!;
    const before = outputs;
    last = null;
    ep.input(ip(buildTcpFrame({ srcMac: CLIENT_MAC, dstMac: VIP_MAC, srcIp: p.ip, dstIp: VIP, srcPort: p.port, dstPort: 80, seq: p.seq, ack: p.ack, flags: TCP_ACK | TCP_PSH, window: 502, options: tsOption(++ts, p.tsEcr), payload: REQUEST })), { link: null });
    p.seq = (p.seq + REQUEST.length) >>> 0;
    const resp = last as Buffer | null;
    if (outputs > before && resp) {
      const tcp = resp.subarray(20);
      const len = resp.readUInt16BE(2) - 20 - (tcp[12]! >> 4) * 4;
      p.ack = (tcp.readUInt32BE(4) + len) >>> 0;
      p.tsEcr = findTsVal(tcp);
      answered++;
      // The client's ACK of the response.
      ep.input(ip(buildTcpFrame({ srcMac: CLIENT_MAC, dstMac: VIP_MAC, srcIp: p.ip, dstIp: VIP, srcPort: p.port, dstPort: 80, seq: p.seq, ack: p.ack, flags: TCP_ACK, window: 502, options: tsOption(++ts, p.tsEcr) })), { link: null });
    }
  }
  secs = (performance.now() - t0) / 1000;
  const requestsPerSecond = answered / secs;
  ctx.line(`  requests with the 503 fallback: ${requestsPerSecond.toFixed(0)}/s (${answered} of ${R} answered in ${secs.toFixed(2)} s)`);

  ctx.progress('tcp endpoint: heap per idle established connection');
  const memory: { connections: number; bytesPerConnection: number }[] = [];
  let next = N;
  for (const target of [10_000, 100_000]) {
    const base = settledHeap();
    const startCount = ep.connectionCount;
    while (ep.connectionCount - startCount < target) handshake(next++);
    const per = (settledHeap() - base) / target;
    memory.push({ connections: target, bytesPerConnection: per });
    ctx.line(`  ${target} idle connections: ${per.toFixed(0)} bytes of heap each (goal <= 2048 plus buffered request bytes)`);
  }
  return { name: 'tcp', results: { handshakesPerSecond, requestsPerSecond, memory, totalConnections: ep.connectionCount } };
}

function findTsVal(tcp: Buffer): number {
  const end = (tcp[12]! >> 4) * 4;
  for (let i = 20; i < end; ) {
    const kind = tcp[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (kind === 8) return tcp.readUInt32BE(i + 2);
    i += tcp[i + 1] || 1;
  }
  return 0;
}
