/**
 * `prism` command line. Each subcommand lives in its own cli/cmd-*.ts file and registers itself here.
 * Only subcommands that work are listed.
 */
import { Command } from 'commander';
import { registerTopo } from './cmd-topo.js';
import { registerDemo } from './cmd-demo.js';
import { registerCodegen } from './cmd-codegen.js';
import { registerServe } from './cmd-serve.js';
import { registerBench } from './cmd-bench.js';
import { registerSwitch } from './cmd-switch.js';
import { registerAgent } from './cmd-agent.js';
import { registerController } from './cmd-controller.js';

const program = new Command();
program
  .name('prism')
  .description(
    'Per-transaction TCP hand-off: a cluster of backends looks like one server (a VIP), each request on a ' +
      'client connection can be served by a different backend, and responses flow straight back through the switch. ' +
      'Quick start: `prism demo` (as root).',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerCodegen(program);
registerTopo(program);
registerServe(program);
registerSwitch(program);
registerController(program);
registerAgent(program);
registerBench(program);
registerDemo(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { code?: unknown }).code;
  // Exit once the message is out: a command that failed while starting (a controller whose gRPC
  // channel is open, say) would otherwise stay alive on its open handles.
  process.stderr.write(`prism: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` [${code}]` : ''}\n`, () => process.exit(1));
}
