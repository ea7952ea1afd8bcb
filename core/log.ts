/**
 * Logging: pino, one child logger per component (`component` field).
 * PRISM_LOG_LEVEL sets the level (default info; `silent` in tests unless set).
 * PRISM_TRACE=netns,p4rt,... turns on trace-level output for the named components, or `*` for all.
 */
import { pino, type Logger } from 'pino';

const traced = new Set((process.env.PRISM_TRACE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const defaultLevel = process.env.PRISM_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');

const rootLogger: Logger = pino({
  level: traced.size > 0 ? 'trace' : defaultLevel,
  base: null,
  // Bearer tokens and secrets never reach a log line.
  redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
});

export function logger(component: string): Logger {
  const child = rootLogger.child({ component });
  if (traced.size > 0 && !traced.has('*') && !traced.has(component)) child.level = defaultLevel;
  return child;
}
