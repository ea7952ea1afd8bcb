/**
 * ARP replies for the VIPs (and any other address the controller answers for), RFC 826.
 * The switch sends every ARP frame to the controller; requests for an address we own get a reply
 * out of the port they came in on. Everything else is ignored and counted.
 */
import { ARP_HTYPE_ETHERNET, ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST } from '../core/header/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN } from '../core/header/ethernet.js';
import { bytesToIpv4, bytesToMac } from '../core/header/addr.js';
import { buildArpFrame } from '../core/header/frame.js';

export interface ArpStats {
  replies: number;
  notOurs: number;
  malformed: number;
}

export class ArpResponder {
  /** IPv4 address → MAC we answer with. */
  readonly #owned = new Map<string, string>();
  readonly stats: ArpStats = { replies: 0, notOurs: 0, malformed: 0 };

  own(ip: string, mac: string): void {
    this.#owned.set(ip, mac);
  }

  disown(ip: string): void {
    this.#owned.delete(ip);
  }

  /** The reply frame for an ARP frame, or null when there is nothing to answer. */
  handle(frame: Buffer): Buffer | null {
    if (frame.length < ETH_HEADER_LEN + ARP_LEN || frame.readUInt16BE(12) !== ETHERTYPE_ARP) {
      this.stats.malformed++;
      return null;
    }
    const a = frame.subarray(ETH_HEADER_LEN);
    if (a.readUInt16BE(0) !== ARP_HTYPE_ETHERNET || a.readUInt16BE(2) !== ETHERTYPE_IPV4 || a[4] !== 6 || a[5] !== 4) {
      this.stats.malformed++;
      return null;
    }
    if (a.readUInt16BE(6) !== ARP_OP_REQUEST) return null;
    const target = bytesToIpv4(a.subarray(24, 28));
    const mac = this.#owned.get(target);
    if (!mac) {
      this.stats.notOurs++;
      return null;
    }
    const senderMac = bytesToMac(a.subarray(8, 14));
    this.stats.replies++;
    return buildArpFrame({ op: ARP_OP_REPLY, senderMac: mac, senderIp: target, targetMac: senderMac, targetIp: bytesToIpv4(a.subarray(14, 18)), ethDst: senderMac });
  }
}
