/**
 * How long an activity waited in its task queue and then ran: measured by the worker that ran
 * it and returned with its result, so a step's timings need no clock but the workers'.
 */
import { Context } from '@temporalio/activity';
import type { ActivityTiming } from '../common/activityContracts';

/** Wraps an activity whose result is an object so that the result carries its `timing`. */
export function timed<I, R extends object>(
  activity: (input: I) => Promise<R>,
): (input: I) => Promise<R & { timing: ActivityTiming }> {
  return async (input: I) => {
    const startedMs = Date.now();
    const { currentAttemptScheduledTimestampMs } = Context.current().info;
    const queuedMs = Math.max(0, startedMs - currentAttemptScheduledTimestampMs);
    const result = await activity(input);
    return { ...result, timing: { queuedMs, runMs: Date.now() - startedMs } };
  };
}
