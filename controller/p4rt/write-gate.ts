/**
 * Shared/exclusive ordering of table writes against reconciliation. Writes run shared (many at
 * once); a reconciliation runs exclusive: it waits for the writes in flight, and writes that
 * arrive meanwhile wait for it. Without this, a reconciliation that read the switch just before a
 * write landed would delete the new entry as "not owned".
 *
 * Invariant: exclusive holders never overlap shared holders; waiting exclusive holders go before
 * shared requests that arrive after them (no starvation of reconciliation).
 */
export class WriteGate {
  private shared = 0;
  private exclusive = false;
  private readonly queue: { kind: 'shared' | 'exclusive'; wake: () => void }[] = [];

  async runShared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.exclusive || this.queue.length > 0) await new Promise<void>((wake) => this.queue.push({ kind: 'shared', wake }));
    else this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
      this.pump();
    }
  }

  async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.exclusive || this.shared > 0 || this.queue.length > 0) await new Promise<void>((wake) => this.queue.push({ kind: 'exclusive', wake }));
    else this.exclusive = true;
    try {
      return await fn();
    } finally {
      this.exclusive = false;
      this.pump();
    }
  }

  private pump(): void {
    if (this.exclusive) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.kind === 'exclusive') {
        if (this.shared > 0) return;
        this.queue.shift();
        this.exclusive = true;
        head.wake();
        return;
      }
      this.queue.shift();
      this.shared++;
      head.wake();
    }
  }
}
