/** `prism serve`: the built-in object server on its own (a backend application without the agent). */
import { resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { createObjectServer } from '../agent/object-server.js';
import { InvalidArgumentError } from '../core/errors.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the built-in object server (GET /bytes/<n>?seed=<s>, PUT/GET/DELETE /objects/<name>) on its own')
    .option('--listen <addr:port>', 'address and port to listen on', '0.0.0.0:8080')
    .option('--name <name>', 'backend name reported in X-Backend', 'backend')
    .option('--store-dir <dir>', 'directory of the /objects store (created, mode 0700, when missing; default: a private temporary directory, removed on exit)')
    .action(async (opts: { listen: string; name: string; storeDir?: string }) => {
      const m = /^(.+):(\d+)$/.exec(opts.listen);
      if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`--listen must be <address>:<port>, got ${JSON.stringify(opts.listen)}`);
      const storeDir = opts.storeDir === undefined ? undefined : resolvePath(opts.storeDir);
      const server = createObjectServer({ name: opts.name, ...(storeDir !== undefined ? { storeDir } : {}) });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(m[2]), m[1], () => resolve());
      });
      process.stdout.write(`object server "${opts.name}" listening on ${opts.listen}${storeDir !== undefined ? `, objects in ${storeDir}` : ''}\n`);
      const stop = (): void => {
        server.close();
        server.closeAllConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
