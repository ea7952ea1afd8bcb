/** `prism serve`: the built-in object server on its own (a backend application without the agent). */
import type { Command } from 'commander';
import { createObjectServer } from '../agent/object-server.js';
import { InvalidArgumentError } from '../core/errors.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the built-in object server (GET /bytes/<n>?seed=<s>, PUT/GET/DELETE /objects/<name>) on its own')
    .option('--listen <addr:port>', 'address and port to listen on', '0.0.0.0:8080')
    .option('--name <name>', 'backend name reported in X-Backend', 'backend')
    .action(async (opts: { listen: string; name: string }) => {
      const m = /^(.+):(\d+)$/.exec(opts.listen);
      if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`--listen must be <address>:<port>, got ${JSON.stringify(opts.listen)}`);
      const server = createObjectServer({ name: opts.name });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(m[2]), m[1], () => resolve());
      });
      process.stdout.write(`object server "${opts.name}" listening on ${opts.listen}\n`);
      const stop = (): void => {
        server.close();
        server.closeAllConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
