/**
 * How the switch exchanges packets with the controller: PacketIn frames come from the data plane
 * with their ingress port; PacketOut frames go into the data plane naming their egress port.
 * The embedded switch implements it with a veth pair and AF_PACKET (cpu-port.ts).
 */
export interface PacketIn {
  readonly ingressPort: number;
  readonly payload: Buffer;
}

export interface PacketIo {
  /** Interface where the data plane program is attached as the CPU port. */
  readonly dataplaneIfname: string;
  sendPacketOut(egressPort: number, frame: Buffer): void;
  onPacketIn(listener: (pi: PacketIn) => void): void;
  close(): Promise<void>;
}
