/** The documented /bytes generator, checked against an independent Python implementation. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ByteStream, deterministicBytes, deterministicSha256 } from '../../agent/bytes.js';

const PY = `
import hashlib, struct, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
s = seed & 0xffffffff or 0x9e3779b9
out = bytearray()
while len(out) < n:
    s ^= (s << 13) & 0xffffffff; s ^= s >> 17; s ^= (s << 5) & 0xffffffff
    out += struct.pack('<I', s)
print(hashlib.sha256(bytes(out[:n])).hexdigest())
`;

describe('deterministic bytes', () => {
  for (const [n, seed] of [[0, 1], [1, 1], [7, 0], [4096, 42], [100003, 4294967295]] as const) {
    it(`n=${n} seed=${seed} matches the documented generator`, () => {
      const py = execFileSync('python3', ['-c', PY, String(n), String(seed)], { encoding: 'utf8' }).trim();
      expect(deterministicSha256(n, seed)).toBe(py);
    });
  }
  it('chunked generation equals one-shot generation', () => {
    const s = new ByteStream(9);
    const chunks = Buffer.concat([s.next(8), s.next(1024), s.next(4)]);
    expect(chunks.equals(deterministicBytes(1036, 9))).toBe(true);
  });
});
