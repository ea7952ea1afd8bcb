/** Small fixtures more than one test file builds: a hand-off table entry, a backend in a policy view. */
import type { TableEntrySpec } from '../../controller/p4rt/entry-codec.js';
import type { BackendView } from '../../controller/policy/alrm.js';

/** A handoff_in entry for client port `srcPort` (10.0.0.1 → VIP 10.0.0.100:80) to the backend on `backendPort`. */
export function handoffEntry(srcPort: number, backendPort = 2): TableEntrySpec {
  return {
    table: 'handoff_in',
    match: { src_addr: '10.0.0.1', dst_addr: '10.0.0.100', src_port: srcPort, dst_port: 80 },
    action: 'to_backend',
    params: { backend_ip: '10.0.1.2', backend_mac: '02:00:00:00:01:02', port: backendPort, clear_fin: 0 },
  };
}

/** A backend as a policy sees it: up, not draining, weight 1, idle, unless `over` says otherwise. */
export const backendView = (name: string, over: Partial<BackendView> = {}): BackendView => ({
  name,
  up: true,
  draining: false,
  weight: 1,
  load: { activeTransactions: 0, recentThroughputBps: 0, queueLength: 0 },
  ...over,
});
