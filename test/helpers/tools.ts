/** Which outside tools this machine has, for the tests that skip without them. */
import { spawnSync } from 'node:child_process';

/** `cmd` is a command on PATH. */
export const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
