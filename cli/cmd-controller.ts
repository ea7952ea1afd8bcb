/**
 * `prism controller --config FILE`: the controller as its own process. Programs the switch over
 * P4Runtime, owns client connections, hands transactions to the agents, serves the admin API.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { loadOrCreateToken } from '../controller/admin/auth.js';
import { LiveAdminTarget } from '../controller/admin/live-target.js';
import { createAdminApi } from '../controller/admin/server.js';
import { Controller } from '../controller/controller.js';
import { HandoffManager } from '../controller/handoff/handoff-manager.js';
import { DrainingRuleWriter, SwitchDrainBarrier } from '../controller/p4rt/drain-barrier.js';
import { PolicyEngine } from '../controller/policy/engine.js';
import { InvalidArgumentError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { decodeMessage } from '../core/proto.js';
import { loadControllerConfig } from '../stack/controller-config.js';
import { repoRoot } from './paths.js';

const log = logger('controller');

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('run the controller: program the switch, own client connections, hand transactions to the agents, serve the admin API')
    .requiredOption('--config <file>', 'controller configuration (YAML or JSON); see docs/controller.md')
    .addHelpText('after', '\nExamples (commented): topologies/controller-embedded.yaml (prism switch), topologies/controller-bmv2.yaml (simple_switch_grpc)')
    .action(async (opts: { config: string }) => {
      const cfg = loadControllerConfig(opts.config);
      const root = repoRoot();
      const rel = (p: string): string => (isAbsolute(p) ? p : join(root, p));
      const deviceConfigPath = rel(cfg.switch.deviceConfig ?? (cfg.switch.target === 'embedded' ? 'build/ebpf/prism.bpf.o' : ''));
      if (!cfg.switch.deviceConfig && cfg.switch.target !== 'embedded') throw new InvalidArgumentError('switch.deviceConfig must name the p4c JSON for a bmv2 switch');
      const p4info = decodeMessage('p4.config.v1.P4Info', readFileSync(rel(cfg.switch.p4info ?? 'p4/p4info/prism.p4info.bin')));
      const agentToken = cfg.agentTokenFile ? readFileSync(cfg.agentTokenFile, 'utf8').trim() : (process.env.PRISM_AGENT_TOKEN ?? '');
      if (cfg.backends.length > 0 && agentToken.length < 16) throw new InvalidArgumentError('set the agents\' shared token (>= 16 characters) with agentTokenFile or PRISM_AGENT_TOKEN');

      const controller = await Controller.start({
        switchAddress: cfg.switch.address,
        deviceId: BigInt(cfg.switch.deviceId),
        electionId: BigInt(cfg.switch.electionId),
        p4info,
        deviceConfig: readFileSync(deviceConfigPath),
        vips: cfg.vips,
        routes: cfg.routes,
      });
      const policies = new PolicyEngine();
      const policy = await policies.install({ builtin: cfg.policy.name, ...(cfg.policy.config ? { config: cfg.policy.config } : {}) });
      policies.activate(policy.id);
      // BMv2 applies a Write before frames already queued in it: a from-backend rule is deleted
      // only once the switch has drained them (controller/p4rt/drain-barrier.ts, docs/bmv2.md).
      const drain = cfg.switch.target === 'bmv2' ? new SwitchDrainBarrier(controller.client, cfg.switch.cpuPort) : null;
      const handoff = new HandoffManager(
        controller,
        cfg.backends.map((b) => ({ name: b.name, ip: b.ip, mac: b.mac, port: b.port, agentAddress: b.agent, token: agentToken })),
        { engine: policies, speculation: cfg.speculation, ...(drain ? { rules: new DrainingRuleWriter(controller.client, drain) } : {}) },
      );
      const { token, created } = cfg.admin.tokenFile ? await loadOrCreateToken(cfg.admin.tokenFile) : { token: undefined, created: false };
      const admin = await createAdminApi({ target: new LiveAdminTarget({ controller, handoff, policies, defaultAgentToken: agentToken }), ...(token ? { token } : {}) });
      const url = await admin.app.listen({ host: cfg.admin.host, port: cfg.admin.port });
      process.stdout.write(`prism controller: switch ${cfg.switch.address}, VIPs ${cfg.vips.map((v) => `${v.ip}:${v.port}`).join(', ')}, ${cfg.backends.length} backends\n`);
      process.stdout.write(`admin API ${url} (dashboard ${url}/dashboard)\n`);
      if (created || admin.generatedToken) process.stdout.write(`admin token (shown once${cfg.admin.tokenFile ? `, saved in ${cfg.admin.tokenFile}` : ''}): ${admin.token}\n`);
      const stop = (): void => {
        log.info('stopping');
        void admin.app
          .close()
          .then(() => handoff.close())
          .then(() => controller.stop())
          .then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
