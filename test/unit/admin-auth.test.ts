import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateToken, TokenCheck } from '../../controller/admin/auth.js';

const dir = mkdtempSync(join(tmpdir(), 'prism-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('admin token', () => {
  it('is generated at first start (file mode 0600), then read back', async () => {
    const file = join(dir, 'sub', 'admin-token');
    const first = await loadOrCreateToken(file);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateToken(file);
    expect(again).toEqual({ token: first.token, created: false });
  });

  it('accepts exactly the bearer token', () => {
    const c = new TokenCheck('abcdefghijklmnop-1234');
    expect(c.accepts('Bearer abcdefghijklmnop-1234')).toBe(true);
    expect(c.accepts('bearer abcdefghijklmnop-1234')).toBe(true);
    expect(c.accepts('Bearer abcdefghijklmnop-12345')).toBe(false);
    expect(c.accepts('Basic abcdefghijklmnop-1234')).toBe(false);
    expect(c.accepts('Bearer')).toBe(false);
    expect(c.accepts(undefined)).toBe(false);
    expect(() => new TokenCheck('short')).toThrow(/at least 16/);
  });
});
