/**
 * Removes live topologies when the process ends, whatever the way it ends.
 *
 * Invariants:
 * - While at least one Guarded is registered, handlers are installed for process `exit`,
 *   SIGINT, SIGTERM, SIGHUP and uncaught exceptions; when the last one unregisters, they are removed.
 * - Cleanup on these paths is synchronous (spawnSync) and never throws; each Guarded is cleaned
 *   at most once by the guard.
 * - The guard never keeps a signal from ending the process: after cleaning up, if no other
 *   listener for that signal remains it re-raises the signal with the default disposition, so the
 *   exit status still says "killed by SIGINT" (Ctrl-C still works). If other listeners exist, ending
 *   the process is their job (the guard only removes its own listener).
 * - Uncaught exceptions are observed with `uncaughtExceptionMonitor`, which does not change Node's
 *   default behaviour (print, exit 1); cleanup runs there only if nobody handles the exception
 *   (otherwise the process goes on, and so do its topologies).
 * - SIGKILL cannot be caught: leftovers from a SIGKILLed process are removed by `cleanupAll`
 *   (`prism topo down --all`).
 */
export interface Guarded {
  /** Synchronous, never throws. */
  cleanupSync(reason: string): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const registered = new Set<Guarded>();
let installed = false;

function cleanupAllSync(reason: string): void {
  const items = [...registered];
  registered.clear();
  for (const g of items) {
    try {
      g.cleanupSync(reason);
    } catch {
      // never let one failure stop the others, or the exit
    }
  }
}

function onExit(): void {
  cleanupAllSync('exit');
}

function onUncaught(): void {
  // Only when the exception will end the process: a test runner or a server that handles
  // 'uncaughtException' keeps running, and its topologies must stay up.
  if (process.listenerCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback()) {
    cleanupAllSync('uncaught exception');
  }
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync(signal);
  uninstall();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onUncaught);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', onExit);
  process.removeListener('uncaughtExceptionMonitor', onUncaught);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/** Cleans `g` up synchronously if the process ends before `unregisterExitCleanup(g)`. */
export function registerExitCleanup(g: Guarded): void {
  registered.add(g);
  install();
}

export function unregisterExitCleanup(g: Guarded): void {
  registered.delete(g);
  if (registered.size === 0) uninstall();
}

/** How many are registered (for tests and diagnostics). */
export function registeredCount(): number {
  return registered.size;
}
