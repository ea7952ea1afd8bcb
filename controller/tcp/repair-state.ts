/**
 * The connection state that crosses a hand-off: what the agent needs to rebuild the socket with
 * Linux TCP_REPAIR (TCP_QUEUE_SEQ, TCP_REPAIR_WINDOW, TCP_REPAIR_OPTIONS, TCP_TIMESTAMP), and what
 * it returns at Release. Sequence numbers are unsigned 32-bit numbers; windows are bytes.
 * Names follow the kernel's struct tcp_sock / struct tcp_repair_window.
 */
export interface TcpRepairState {
  /** The VIP and port (the socket's local address on the backend, after rewriting). */
  readonly localIp: string;
  readonly localPort: number;
  /** The client. */
  readonly remoteIp: string;
  readonly remotePort: number;
  /** snd_una = snd_nxt at export: nothing of ours is in flight (write queue seq). */
  readonly sndUna: number;
  readonly sndNxt: number;
  /** rcv_nxt (read queue seq). */
  readonly rcvNxt: number;
  /** snd_wl1: sequence number of the segment that last updated the send window. */
  readonly sndWl1: number;
  /** snd_wnd: the client's window in bytes (already scaled by sndWscale). */
  readonly sndWnd: number;
  /** The client's last window field as sent on the wire (sndWnd >> sndWscale). */
  readonly sndWndRaw: number;
  /** max_window: the largest window the client has offered. */
  readonly maxWindow: number;
  /** rcv_wnd: the window we advertised in our last segment (0 while a zero window is forced). */
  readonly rcvWnd: number;
  /** rcv_wup: rcv_nxt when that window was advertised. */
  readonly rcvWup: number;
  /** Window scaling negotiated at the handshake. */
  readonly wscaleOk: boolean;
  /** snd_wscale: the client's shift (applies to windows the client sends). */
  readonly sndWscale: number;
  /** rcv_wscale: our shift (applies to windows we send). */
  readonly rcvWscale: number;
  /** The client's MSS (TCP_REPAIR_OPTIONS TCPOPT_MAXSEG). */
  readonly mss: number;
  readonly sackPermitted: boolean;
  readonly timestamps: boolean;
  /** Our TSval clock at export time; the backend sets TCP_TIMESTAMP to continue from it. */
  readonly tsVal: number;
  /** tsVal - our clock (ms) at export: informational. */
  readonly tsOffset: number;
  /** ts_recent: the client's last TSval, echoed as TSecr. */
  readonly tsRecent: number;
  /** The endpoint's clock (ms) when the state was taken (to add elapsed time to tsVal). */
  readonly exportedAtMs: number;
}
