/**
 * A barrier through a software switch's ingress queue: resolves once every frame the switch had
 * received when `drain()` was called has been through its ingress pipeline.
 *
 * Why: on BMv2 a P4Runtime Write is applied by the gRPC server's thread at once, while frames the
 * switch has already received wait in its input buffer for the one ingress thread. A frame a
 * backend sent before its agent said Done can still be queued when the controller deletes the
 * backend's from-backend (handoff_out) rule; it is then routed unrewritten, from the backend's own
 * address, and the client answers it with a RST (seen on BMv2 under concurrency, never on the
 * embedded target, whose eBPF program runs in the sender's transmit path). Deleting the rule after
 * a barrier keeps the order the hand-off relies on: every frame sent while the rule was meant to
 * apply meets it.
 *
 * How: a PacketOut to the CPU port. BMv2 (simple_switch) puts PacketOuts into the same input
 * buffer as the frames of its data ports, and sends a packet whose egress port is the CPU port to
 * the controller as a PacketIn. When the marker comes back, everything ahead of it has passed
 * ingress, where the rewrite is decided. The PacketOut payload starts with two bytes that PI reads
 * back as the PacketIn's metadata (the program emits no packet_in header for it); what follows is
 * a frame of EtherType 0x88b5 (local experimental: the program parses no further) carrying a
 * nonce.
 *
 * Limits: frames still in the kernel's socket buffer of BMv2's libpcap reader (not yet received)
 * are not covered; the marker round trip (a gRPC write, a PacketIn) takes about a millisecond,
 * which is longer than the reader takes to pick frames up. A marker that does not come back
 * (the switch dropped it) releases the barrier after `timeoutMs`, logged.
 */
import { randomBytes } from 'node:crypto';
import { logger } from '../../core/log.js';
import type { EntryUpdate, P4RuntimeClient } from './client.js';
import type { TableEntrySpec } from './entry-codec.js';
import type { ReceivedPacket } from './packet-metadata.js';

const log = logger('drain-barrier');

const MAGIC = Buffer.from('prismdrain', 'ascii'); // 10 bytes
const ETHERTYPE_EXPERIMENTAL = Buffer.from([0x88, 0xb5]);
const FRAME_LEN = 60;

/** The PacketIn payload of a marker with `nonce` (what comes back), and the PacketOut payload. */
function markerFrames(nonce: Buffer): { out: Buffer; back: Buffer } {
  const back = Buffer.alloc(FRAME_LEN);
  MAGIC.copy(back, 0);
  ETHERTYPE_EXPERIMENTAL.copy(back, 10);
  // What the controller's packet handler reads as the EtherType: neither IPv4 nor ARP, so a marker
  // that reaches it is counted as not for us and dropped.
  ETHERTYPE_EXPERIMENTAL.copy(back, 12);
  nonce.copy(back, 14);
  // Two leading bytes for PI to take as the PacketIn metadata (ingress_port 0, _pad 0). The
  // program's parser reads the Ethernet header from them on; bytes 12-13 of what it reads are
  // back[10..11], the experimental EtherType, so nothing is parsed or rewritten.
  return { out: Buffer.concat([Buffer.alloc(2), back]), back };
}

export class SwitchDrainBarrier {
  readonly #client: P4RuntimeClient;
  readonly #cpuPort: number;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<string, () => void>();
  readonly stats = { drains: 0, timeouts: 0 };

  constructor(client: P4RuntimeClient, cpuPort: number, timeoutMs = 1000) {
    this.#client = client;
    this.#cpuPort = cpuPort;
    this.#timeoutMs = timeoutMs;
    client.on('packetIn', (p: ReceivedPacket) => this.#onPacketIn(p));
  }

  /** True for a PacketIn that is one of the barrier's markers (the controller may ignore it). */
  static isMarker(payload: Buffer): boolean {
    return payload.length >= 22 && payload.subarray(0, MAGIC.length).equals(MAGIC);
  }

  /** Resolves when a marker sent now has come back through the switch (or after the timeout). */
  drain(): Promise<void> {
    const nonce = randomBytes(8);
    const key = nonce.toString('hex');
    const { out } = markerFrames(nonce);
    this.stats.drains++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        this.stats.timeouts++;
        log.warn({ timeoutMs: this.#timeoutMs }, 'drain marker did not come back through the switch; going on');
        resolve();
      }, this.#timeoutMs);
      this.#waiting.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.#client.packetOut(out, { egress_port: this.#cpuPort });
      } catch (err) {
        this.#waiting.delete(key);
        clearTimeout(timer);
        log.warn({ err }, 'could not send a drain marker; going on');
        resolve();
      }
    });
  }

  #onPacketIn(p: ReceivedPacket): void {
    if (this.#waiting.size === 0 || !SwitchDrainBarrier.isMarker(p.payload)) return;
    const key = p.payload.subarray(14, 22).toString('hex');
    const done = this.#waiting.get(key);
    if (!done) return;
    this.#waiting.delete(key);
    done();
  }
}

/**
 * The hand-off's rule writer on a switch with an ingress queue: a batch that deletes an entry of
 * one of `tables` (default handoff_out, the from-backend rewrite) first waits until the entries
 * it deletes have stopped being hit: it reads their direct counters, drains the switch, reads them
 * again, and repeats while the count still grew (at most `maxRounds` drains). One drain alone was
 * not enough under load (17 client RSTs in the 200-GET runs of handoff.test.ts): when BMv2's input
 * buffer is full its libpcap readers wait, frames pile up in the kernel, and the marker, queued
 * by another thread, can overtake them. A round in which no frame hit the rule means the backend's
 * frames have all been through. Everything else goes straight to the client.
 */
export class DrainingRuleWriter {
  readonly #client: P4RuntimeClient;
  readonly #barrier: SwitchDrainBarrier;
  readonly #tables: ReadonlySet<string>;
  readonly #maxRounds: number;
  readonly stats = { quiesced: 0, rounds: 0, gaveUp: 0 };

  constructor(client: P4RuntimeClient, barrier: SwitchDrainBarrier, opts: { tables?: readonly string[]; maxRounds?: number } = {}) {
    this.#client = client;
    this.#barrier = barrier;
    this.#tables = new Set(opts.tables ?? ['handoff_out']);
    this.#maxRounds = opts.maxRounds ?? 8;
  }

  async writeOrThrow(updates: readonly EntryUpdate[]): Promise<void> {
    const going = updates.filter((u) => u.type === 'DELETE' && typeof u.entry.table === 'string' && this.#tables.has(u.entry.table)).map((u) => u.entry);
    if (going.length > 0) await this.#quiesce(going);
    await this.#client.writeOrThrow(updates);
  }

  async #quiesce(entries: readonly TableEntrySpec[]): Promise<void> {
    this.stats.quiesced++;
    let before = await this.#hits(entries);
    for (let round = 0; round < this.#maxRounds; round++) {
      this.stats.rounds++;
      await this.#barrier.drain();
      const now = await this.#hits(entries);
      if (now === before) return;
      before = now;
    }
    this.stats.gaveUp++;
    log.warn({ rounds: this.#maxRounds }, 'a from-backend rule was still being hit after every drain round; deleting it anyway');
  }

  /** Packets that have hit `entries` so far (their direct counters; 0 for an entry not there). */
  async #hits(entries: readonly TableEntrySpec[]): Promise<bigint> {
    let n = 0n;
    for (const e of entries) {
      for (const got of await this.#client.readAll({ table: e.table, ...(e.match ? { match: e.match } : {}), counters: true })) n += got.counters?.packets ?? 0n;
    }
    return n;
  }
}
