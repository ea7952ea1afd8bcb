/**
 * Bearer-token auth for the admin API (RFC 6750). The token is configured, or generated at first
 * start and kept in a file readable by its owner only; the caller prints it once when `created`.
 * Comparison is constant-time over SHA-256 digests. The token never reaches a log line: the
 * server's logger redacts the Authorization header (server.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Reads the token from `file`, or creates the file with a fresh one (mode 0600). */
export async function loadOrCreateToken(file: string): Promise<{ token: string; created: boolean }> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= 16) return { token, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = generateToken();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true };
}

export class TokenCheck {
  readonly #digest: Buffer;

  constructor(token: string) {
    if (token.length < 16) throw new RangeError('the admin token must be at least 16 characters');
    this.#digest = digest(token);
  }

  /** True when the Authorization header carries this token as a Bearer credential. */
  accepts(authorization: string | undefined): boolean {
    if (!authorization) return false;
    const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization);
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), this.#digest);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
