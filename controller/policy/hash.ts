/** FNV-1a, 32 bit, over the UTF-8 bytes of a string: small, fast, deterministic across runs. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Rendezvous (highest random weight) choice of one name for a bucket; null when names is empty. */
export function rendezvous(bucket: number, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const n of names) {
    const s = fnv1a(`${bucket}/${n}`);
    if (s > bestScore || (s === bestScore && best !== null && n < best)) {
      bestScore = s;
      best = n;
    }
  }
  return best;
}
