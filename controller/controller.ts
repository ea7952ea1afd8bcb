/**
 * The controller: programs the switch over P4Runtime and owns every client connection to a VIP
 * while no transaction is in progress.
 *
 *   PacketIn ─┬─ ARP for an address we own ──────────────► ArpResponder ─► PacketOut
 *             └─ IPv4/TCP to a VIP ─► TcpEndpoint ─► HttpIntake ─► request handler
 *   TcpEndpoint output ─► Ethernet (VIP MAC → client MAC) ─► PacketOut to the client's port
 *
 * Requests go to the `RequestRouter` (the hand-off machinery, controller/handoff/); without one,
 * or when it declines, the controller answers 503 itself and keeps the connection usable.
 */
import { mark } from '../core/timeline.js';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { logger } from '../core/log.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN } from '../core/header/ethernet.js';
import { bytesToMac } from '../core/header/addr.js';
import { ethernetHeader } from '../core/header/frame.js';
import { ArpResponder } from './arp.js';
import { P4RuntimeClient, type LocalWrite } from './p4rt/client.js';
import { SwitchDrainBarrier } from './p4rt/drain-barrier.js';
import { HttpIntake, type HttpRequest, type HttpSession } from './http/intake.js';
import { TcpEndpoint } from './tcp/endpoint.js';
import { systemClock, type Clock } from './tcp/clock.js';
import type { TcpConfig } from './tcp/config.js';

const log = logger('controller');
type Obj = Record<string, any>;

/** Where a client is: the switch port its frames arrive on and its (or its router's) MAC. */
export interface ClientLink {
  readonly port: number;
  readonly mac: string;
}

export interface VipSpec {
  readonly ip: string;
  readonly port: number;
  readonly mac: string;
}

export interface RouteSpec {
  /** Destination prefix, e.g. 10.0.0.2/32. */
  readonly prefix: string;
  readonly port: number;
  readonly srcMac: string;
  readonly dstMac: string;
}

export interface ControllerOptions {
  readonly switchAddress: string;
  readonly deviceId: bigint | number;
  readonly electionId: bigint | number;
  readonly p4info: Obj;
  readonly deviceConfig: Buffer;
  readonly vips: readonly VipSpec[];
  readonly routes?: readonly RouteSpec[];
  readonly clock?: Clock;
  readonly tcp?: Partial<TcpConfig>;
  /** Write channel to an embedded switch in this process (P4RuntimeClientOptions.localWrite). */
  readonly localWrite?: LocalWrite;
  /**
   * The controller's own port on the switch, read and written directly (the embedded switch's CPU
   * port veth with AF_PACKET; a CPU netdev on Tofino): client segments and the controller's
   * replies skip the P4Runtime stream. Without it, PacketIn / PacketOut carry them.
   */
  readonly packetPort?: PacketPort;
}

/** Frames to and from the switch's CPU port, with the port they came in on / go out of. */
export interface PacketPort {
  sendPacketOut(egressPort: number, frame: Buffer): void;
  onPacketIn(listener: (pi: { readonly ingressPort: number; readonly payload: Buffer }) => void): void;
}

/** Decides what happens to a request; returns false to let the controller answer 503. */
export interface RequestRouter {
  route(req: HttpRequest, session: HttpSession<ClientLink>): boolean;
}

export class Controller extends EventEmitter {
  readonly client: P4RuntimeClient;
  readonly arp = new ArpResponder();
  readonly endpoint: TcpEndpoint<ClientLink>;
  readonly intake: HttpIntake<ClientLink>;
  readonly options: ControllerOptions;
  readonly stats = { packetIns: 0, packetOuts: 0, notForUs: 0, malformed: 0 };
  router: RequestRouter | undefined;
  readonly #vipMac = new Map<string, string>();
  /** Connections to reset at the client's next segment: key "clientIp:port>vip:port". */
  readonly #pendingResets = new Map<string, { rst: (clientAck: number) => Buffer; until: number }>();
  #stopped = false;

  private constructor(client: P4RuntimeClient, opts: ControllerOptions) {
    super();
    this.client = client;
    this.options = opts;
    const clock = opts.clock ?? systemClock;
    for (const v of opts.vips) {
      this.arp.own(v.ip, v.mac);
      this.#vipMac.set(v.ip, v.mac);
    }
    this.intake = new HttpIntake<ClientLink>(clock, {
      opened: (session) => this.emit('connectionOpened', session.conn),
      closed: (session, reason) => this.emit('connectionClosed', session.conn, reason),
      request: (req, session) => {
        if (this.router?.route(req, session)) return;
        session.respond503('no backend is available');
      },
    });
    this.endpoint = new TcpEndpoint<ClientLink>({
      listeners: opts.vips.map((v) => ({ ip: v.ip, port: v.port })),
      clock,
      random: { randomBytes: (n: number) => randomBytes(n) },
      output: (packet, link) => this.#sendIp(packet, link),
      handler: this.intake,
      ...(opts.tcp ? { config: opts.tcp } : {}),
    });
  }

  /** Connects to the switch, becomes primary, pushes the pipeline, installs VIP and route entries. */
  static async start(opts: ControllerOptions): Promise<Controller> {
    const client = await P4RuntimeClient.connect(opts.switchAddress, { deviceId: opts.deviceId, electionId: opts.electionId, ...(opts.localWrite ? { localWrite: opts.localWrite } : {}) });
    if (!client.isPrimary) {
      await client.close();
      throw new Error(`another controller is primary on ${opts.switchAddress} (our election id ${opts.electionId})`);
    }
    const c = new Controller(client, opts);
    try {
      await client.setPipeline({ p4info: opts.p4info as never, deviceConfig: opts.deviceConfig });
      await client.writeOrThrow([
        ...opts.vips.map((v) => ({ type: 'INSERT' as const, entry: { table: 'vip', match: { 'hdr.ipv4.dst_addr': v.ip, 'hdr.tcp.dst_port': v.port }, action: 'to_controller' } })),
        ...(opts.routes ?? []).map((r) => {
          const [ip, len] = r.prefix.split('/');
          return {
            type: 'INSERT' as const,
            entry: { table: 'l3', match: { 'hdr.ipv4.dst_addr': { value: ip!, prefixLen: Number(len ?? 32) } }, action: 'route', params: { port: r.port, src_mac: r.srcMac, dst_mac: r.dstMac } },
          };
        }),
      ]);
      const port = opts.packetPort;
      if (port) port.onPacketIn((pi) => c.#onPacket(pi.ingressPort, pi.payload));
      else {
        void c.#packetLoop();
        // PI (BMv2) and Stratum deliver PacketIns to the primary only: as a backup this controller
        // sees no client segment and cannot answer one, so it says so rather than going quiet.
        client.on('backup', ({ primaryElectionId }) => {
          if (!c.#stopped) log.error({ primaryElectionId: primaryElectionId?.toString() ?? null }, 'no longer primary: the switch sends PacketIns to the primary only, client connections stall until primary is regained');
        });
        client.on('primary', () => log.info('primary again: PacketIns resume'));
      }
      log.info({ vips: opts.vips.map((v) => `${v.ip}:${v.port}`), switch: opts.switchAddress }, 'controller ready');
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.client.close();
  }

  async #packetLoop(): Promise<void> {
    try {
      for await (const pi of this.client.packetIns()) {
        if (this.#stopped) break;
        if (SwitchDrainBarrier.isMarker(pi.payload)) continue; // the hand-off's drain barrier (BMv2) consumes it
        this.#onPacket(Number(pi.metadata.ingress_port ?? -1), pi.payload);
      }
    } catch (err) {
      if (!this.#stopped) log.error({ err }, 'packet-in stream ended');
    }
  }

  #onPacket(port: number, frame: Buffer): void {
    mark('pin', frame.length);
    if (this.#stopped) return;
    this.stats.packetIns++;
    try {
      this.#packetIn(port, frame);
    } catch (err) {
      this.stats.malformed++;
      log.warn({ err }, 'packet-in handling failed');
    }
  }

  #packetIn(port: number, frame: Buffer): void {
    if (frame.length < ETH_HEADER_LEN || port < 0) {
      this.stats.malformed++;
      return;
    }
    const type = frame.readUInt16BE(12);
    if (type === ETHERTYPE_ARP) {
      const reply = this.arp.handle(frame);
      if (reply) this.#packetOut(reply, port);
      return;
    }
    if (type !== ETHERTYPE_IPV4) {
      this.stats.notForUs++;
      return;
    }
    const ip = frame.subarray(ETH_HEADER_LEN);
    const link = { port, mac: bytesToMac(frame.subarray(6, 12)) };
    if (this.#pendingResets.size > 0 && this.#resetIfPending(ip, link)) return;
    this.endpoint.input(ip, { link });
  }

  /**
   * Arranges a RST for a connection whose sequence state the controller lost (a backend died
   * mid-response): the next segment from the client carries its ACK number, which is exactly the
   * sequence number a RST must carry to be accepted (RFC 5961 3.2). `tuple` is VIP → client.
   */
  expectReset(tuple: { srcIp: number; dstIp: number; srcPort: number; dstPort: number }, rst: (clientAck: number) => Buffer, ttlMs = 10_000): void {
    this.#pendingResets.set(`${tuple.dstIp}:${tuple.dstPort}>${tuple.srcIp}:${tuple.srcPort}`, { rst, until: Date.now() + ttlMs });
  }

  #resetIfPending(ip: Buffer, link: ClientLink): boolean {
    if (ip.length < 40 || ip[9] !== 6) return false;
    const ihl = (ip[0]! & 0x0f) * 4;
    const key = `${ip.readUInt32BE(12)}:${ip.readUInt16BE(ihl)}>${ip.readUInt32BE(16)}:${ip.readUInt16BE(ihl + 2)}`;
    const pending = this.#pendingResets.get(key);
    if (!pending) return false;
    this.#pendingResets.delete(key);
    if (pending.until < Date.now()) return false;
    const ack = ip.readUInt32BE(ihl + 8);
    this.sendIp(pending.rst(ack), link);
    log.info({ key }, 'reset a connection whose backend failed');
    return true;
  }

  /** Sends an IPv4 packet to a client, wrapped in Ethernet from the VIP's MAC. */
  sendIp(packet: Buffer, link: ClientLink): void {
    this.#sendIp(packet, link);
  }

  #sendIp(packet: Buffer, link: ClientLink): void {
    const src = `${packet[12]}.${packet[13]}.${packet[14]}.${packet[15]}`;
    const vipMac = this.#vipMac.get(src) ?? '02:00:00:00:00:00';
    this.#packetOut(Buffer.concat([ethernetHeader(link.mac, vipMac, ETHERTYPE_IPV4), packet]), link.port);
  }

  #packetOut(frame: Buffer, port: number): void {
    if (this.#stopped) return;
    this.stats.packetOuts++;
    if (this.options.packetPort) this.options.packetPort.sendPacketOut(port, frame);
    else this.client.packetOut(frame, { egress_port: port });
  }
}
