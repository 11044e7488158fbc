/**
 * Worker logs an operator wants: warnings and errors, without the SDK's start-up chatter
 * (webpack bundle statistics, state changes, "no workflows registered" for activity-only
 * workers). TIRFLOW_LOG_LEVEL=INFO or DEBUG brings everything back.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const EXPECTED_WARNINGS = [/No workflows registered/, /No activities registered/];

let installed = false;

export function installWorkerLogging(): void {
  if (installed) return;
  installed = true;
  const level = (process.env.TIRFLOW_LOG_LEVEL?.toUpperCase() ?? 'WARN') as LogLevel;
  const plain = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry) => {
    if (level === 'WARN' && EXPECTED_WARNINGS.some((pattern) => pattern.test(entry.message))) return;
    plain.log(entry.level, entry.message, entry.meta);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // The runtime was already set up by the host process (a test harness): keep its logger.
  }
}
