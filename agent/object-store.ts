/**
 * The store behind `/objects/<name>` of the built-in object server (agent/object-server.ts): one
 * file per object in a directory. Every backend of a deployment points at the same directory, so
 * what one backend stored another serves (docs/object-server.md).
 *
 * An object file is a fixed-size header line, then the body:
 *   `prism-object/1 sha256:<64 hex digits>\n`   (OBJECT_HEADER_BYTES = 87 bytes)
 *
 * Invariants:
 *   - A file named like an object is complete and never written again. PUT writes a temporary
 *     file `.tmp-<random>` in the same directory (body first, header last) and rename(2)s it over
 *     the name. The rename is atomic within a directory: a reader opens the old object or the new
 *     one, whole, and concurrent PUTs of one name end with one of them, never a mix.
 *   - The hash is in the same inode as the bytes it describes: whoever opened a file reads both
 *     from the same version, whatever PUTs replace the name meanwhile. No reader rehashes.
 *   - Names starting with '.' are never objects: they are reserved for the store's own files, so
 *     no name resolves outside the directory ('.', '..') or onto a file being written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, PrismError } from '../core/errors.js';

/** The characters and length of an object name; `objectNameProblem` also refuses a leading '.'. */
export const OBJECT_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** Prefix of the temporary files PUT writes; no object name can start with it. */
export const TEMP_PREFIX = '.tmp-';

const HEADER_PREFIX = 'prism-object/1 sha256:';
export const OBJECT_HEADER_BYTES = HEADER_PREFIX.length + 64 + 1;
const HEADER = new RegExp(`^${HEADER_PREFIX}([0-9a-f]{64})\\n$`);

/** Why `name` cannot name an object, or null when it can. */
export function objectNameProblem(name: string): string | null {
  if (!OBJECT_NAME.test(name)) return 'object names are 1 to 128 of A-Z a-z 0-9 . _ -';
  if (name.startsWith('.')) return `object names must not start with '.' (reserved for the store's own files, e.g. ${TEMP_PREFIX}*)`;
  return null;
}

/** How a PUT ended. The body has been read to its end in every case but `aborted`. */
export type PutOutcome =
  | { readonly kind: 'stored'; readonly size: number; readonly sha256: string }
  /** The body was longer than the limit: nothing stored, the temporary file removed. */
  | { readonly kind: 'too-large'; readonly limit: number }
  /** The body failed before its end (the client went away): nothing stored, the temporary file removed. */
  | { readonly kind: 'aborted' };

/** An object opened for reading. The caller reads it once (readAll or stream) or closes it. */
export interface StoredObject {
  /** Body bytes. */
  readonly size: number;
  readonly sha256: string;
  /** The whole body, then the file is closed. For small objects. */
  readAll(): Promise<Buffer>;
  /** The body as a stream; the file is closed when the stream ends or is destroyed. */
  stream(highWaterMark: number): Readable;
  close(): Promise<void>;
}

/** A file named like an object that is not one (no valid header): the store's directory was written to by something else. */
export class ObjectFormatError extends PrismError {
  constructor(path: string, why: string) {
    super('PRISM_ERR_PROTO', `${path} is not a prism object file: ${why}`);
  }
}

const PRIVATE_PREFIX = 'prism-objects-';
const ORPHAN = new RegExp(`^${PRIVATE_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`); // mkdtemp adds 6 characters

/** Removes the private store directories of processes that no longer exist. */
function removeOrphans(): void {
  const uid = process.getuid?.();
  for (const entry of readdirSync(tmpdir())) {
    const m = ORPHAN.exec(entry);
    if (!m || processExists(Number(m[1]))) continue;
    const path = join(tmpdir(), entry);
    try {
      const st = lstatSync(path);
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) !== 'ESRCH'; // EPERM: it exists, as another user
  }
}

/** Private directories still to remove when the process exits (a server never closed). */
const privateDirs = new Set<string>();
let exitHook = false;

export class ObjectStore {
  /** The directory the objects live in. */
  readonly dir: string;
  readonly #private: boolean;

  private constructor(dir: string, isPrivate: boolean) {
    this.dir = dir;
    this.#private = isPrivate;
  }

  /**
   * The store in `dir`, shared with whoever else uses it. The directory is created (mode 0700)
   * when missing; it must be writable.
   */
  static shared(dir: string): ObjectStore {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new InvalidArgumentError(`cannot create the object store ${dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!statSync(dir).isDirectory()) throw new InvalidArgumentError(`object store ${dir} is not a directory`);
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
    } catch {
      throw new InvalidArgumentError(`object store ${dir} is not writable`);
    }
    return new ObjectStore(dir, false);
  }

  /**
   * A store of its own in a new temporary directory `prism-objects-<pid>-*`, removed by dispose()
   * or when the process exits. A process killed by a signal leaves its directory behind: the next
   * private store removes the directories of processes that are gone.
   */
  static private(): ObjectStore {
    removeOrphans();
    const dir = mkdtempSync(join(tmpdir(), `${PRIVATE_PREFIX}${process.pid}-`));
    privateDirs.add(dir);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const d of privateDirs) rmSync(d, { recursive: true, force: true });
      });
    }
    return new ObjectStore(dir, true);
  }

  /** Removes the directory of a private store (a shared one stays). */
  dispose(): void {
    if (!this.#private) return;
    rmSync(this.dir, { recursive: true, force: true });
    privateDirs.delete(this.dir);
  }

  /**
   * Stores `body` under `name` (replacing what was there) if it is at most `maxBytes` long.
   * Reads the body to its end also when it is too long or a write fails, so that the connection
   * stays usable for the next request; a write failure (ENOSPC, EIO) is thrown after that.
   */
  async put(name: string, body: AsyncIterable<Buffer>, maxBytes: number): Promise<PutOutcome> {
    const target = this.#path(name);
    let temp: TempFile | null = null;
    let failure: unknown = null;
    try {
      temp = await TempFile.create(this.dir);
    } catch (err) {
      failure = err;
    }
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (temp === null) continue; // nothing to write to any more: read on to the end
        if (size > maxBytes) {
          await temp.discard();
          temp = null;
          continue;
        }
        hash.update(chunk);
        try {
          await temp.write(chunk, OBJECT_HEADER_BYTES + size - chunk.length);
        } catch (err) {
          failure = err;
          await temp.discard();
          temp = null;
        }
      }
    } catch {
      await temp?.discard();
      return { kind: 'aborted' };
    }
    if (failure !== null) throw failure;
    if (temp === null) return { kind: 'too-large', limit: maxBytes }; // the only other way to lose the file
    const sha256 = hash.digest('hex');
    await temp.commit(Buffer.from(`${HEADER_PREFIX}${sha256}\n`, 'latin1'), target);
    return { kind: 'stored', size, sha256 };
  }

  /** Opens the object `name`, or null when there is none. */
  async get(name: string): Promise<StoredObject | null> {
    const path = this.#path(name);
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
    try {
      const { size } = await file.stat();
      const head = Buffer.alloc(OBJECT_HEADER_BYTES);
      const { bytesRead } = await file.read(head, 0, head.length, 0);
      const m = HEADER.exec(head.subarray(0, bytesRead).toString('latin1'));
      if (!m) throw new ObjectFormatError(path, `the first ${OBJECT_HEADER_BYTES} bytes are not "${HEADER_PREFIX}<sha256>\\n"`);
      return openObject(path, file, size - OBJECT_HEADER_BYTES, m[1]!);
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  /** Removes the object `name`; false when there was none. */
  async delete(name: string): Promise<boolean> {
    try {
      await unlink(this.#path(name));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  #path(name: string): string {
    const problem = objectNameProblem(name);
    if (problem) throw new InvalidArgumentError(`${JSON.stringify(name)}: ${problem}`);
    return join(this.dir, name);
  }
}

/** A PUT's file until it is renamed into place. */
class TempFile {
  readonly #path: string;
  readonly #file: FileHandle;
  #closed = false;

  private constructor(path: string, file: FileHandle) {
    this.#path = path;
    this.#file = file;
  }

  static async create(dir: string): Promise<TempFile> {
    const path = join(dir, `${TEMP_PREFIX}${randomBytes(12).toString('hex')}`);
    return new TempFile(path, await open(path, 'wx', 0o600));
  }

  write(buf: Buffer, position: number): Promise<void> {
    return writeAll(this.#file, buf, position);
  }

  /** Writes the header at the start and renames the file to `target` (removed when that fails). */
  async commit(header: Buffer, target: string): Promise<void> {
    try {
      await writeAll(this.#file, header, 0);
      this.#closed = true;
      await this.#file.close();
      await rename(this.#path, target);
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  /** Closes and removes the file; never throws (a file it cannot remove stays, named `.tmp-*`). */
  async discard(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#file.close().catch(() => undefined);
    }
    await rm(this.#path, { force: true }).catch(() => undefined);
  }
}

function openObject(path: string, file: FileHandle, size: number, sha256: string): StoredObject {
  return {
    size,
    sha256,
    async readAll() {
      try {
        const body = Buffer.alloc(size);
        let at = 0;
        while (at < size) {
          const { bytesRead } = await file.read(body, at, size - at, OBJECT_HEADER_BYTES + at);
          if (bytesRead === 0) throw new ObjectFormatError(path, `ends after ${at} of ${size} body bytes`);
          at += bytesRead;
        }
        return body;
      } finally {
        await file.close();
      }
    },
    stream(highWaterMark) {
      return file.createReadStream({ start: OBJECT_HEADER_BYTES, highWaterMark, autoClose: true });
    },
    close: () => file.close(),
  };
}

async function writeAll(file: FileHandle, buf: Buffer, position: number): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    const { bytesWritten } = await file.write(buf, at, buf.length - at, position + at);
    at += bytesWritten;
  }
}

/** The errno name of a failed system call ('ENOENT', 'ENOSPC', ...), if `err` carries one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
