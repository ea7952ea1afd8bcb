/**
 * The controller's TCP state (TcpRepairState) on the control protocol (ConnectionState), both
 * ways, through the one mapping in native/repair.ts.
 */
import { ipv4ToBytes } from '../../core/header/addr.js';
import { toConnectionState } from '../../native/repair.js';
import type { ConnectionState__Output } from '../../proto/types/prism/control/v1/ConnectionState.js';
import type { TcpRepairState } from '../tcp/repair-state.js';

/** The state Prepare carries. */
export function toProtoState(s: TcpRepairState): ConnectionState__Output {
  return toConnectionState({
    clientIp: ipv4ToBytes(s.remoteIp),
    clientPort: s.remotePort,
    vipIp: ipv4ToBytes(s.localIp),
    vipPort: s.localPort,
    sndNxt: s.sndNxt,
    rcvNxt: s.rcvNxt,
    sndUna: s.sndUna,
    sndWnd: s.sndWnd,
    rcvWnd: s.rcvWnd,
    sndWscale: s.sndWscale,
    rcvWscale: s.rcvWscale,
    mss: s.mss,
    sackPermitted: s.sackPermitted,
    timestampsEnabled: s.timestamps,
    tsVal: s.tsVal,
    tsRecent: s.tsRecent,
    sndWl1: s.sndWl1,
    maxWindow: s.maxWindow,
    rcvWup: s.rcvWup,
    wscaleOk: s.wscaleOk,
  });
}

/** The state the agent returned, completed with what does not travel (negotiated at the handshake). */
export function fromProtoState(p: ConnectionState__Output, before: TcpRepairState): TcpRepairState {
  // The 4-tuple is the client's view (VIP ↔ client); the backend's socket had its own address.
  return {
    localIp: before.localIp,
    localPort: before.localPort,
    remoteIp: before.remoteIp,
    remotePort: before.remotePort,
    sndUna: p.snd_una >>> 0,
    sndNxt: p.snd_nxt >>> 0,
    rcvNxt: p.rcv_nxt >>> 0,
    sndWl1: p.snd_wl1 >>> 0,
    sndWnd: p.snd_wnd,
    sndWndRaw: Math.min(0xffff, p.snd_wnd >>> (before.wscaleOk ? before.sndWscale : 0)),
    maxWindow: p.max_window,
    rcvWnd: p.rcv_wnd,
    rcvWup: p.rcv_wup >>> 0,
    wscaleOk: before.wscaleOk,
    sndWscale: before.sndWscale,
    rcvWscale: before.rcvWscale,
    mss: before.mss,
    sackPermitted: before.sackPermitted,
    timestamps: before.timestamps,
    tsVal: p.ts_val >>> 0,
    tsOffset: before.tsOffset,
    tsRecent: p.ts_recent >>> 0,
    exportedAtMs: before.exportedAtMs,
  };
}
