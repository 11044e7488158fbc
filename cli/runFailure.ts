/**
 * How a failed run reads on the command line. A run whose own inputs were rejected (its model
 * folder, weights, tokenizer, datasets, prompts, device) failed for bad input, exit 2, like a
 * bad config: the fix is in the user's files, and rerunning unchanged fails the same way.
 * Anything else is a failed run, exit 1.
 */
import { ApplicationFailure } from '@temporalio/common';
import { exitCodes } from './exitCodes';

/** Non-retryable failure types that mean "the run's input is bad", from activities and the trainer. */
export const inputFailureTypes: ReadonlySet<string> = new Set([
  'ModelMissing', // prepareRun: no such folder
  'ModelIncomplete', // prepareRun: config.json, tokenizer.json or weights missing
  'ModelWeightsInvalid', // prepareRun: truncated or non-safetensors weights
  'ModelFolderInvalid', // generation: tokenizer or ONNX export unusable
  'PromptTooLong', // prepareRun: a dataset prompt does not fit the model's context
  'DatasetMissing',
  'DatasetRowInvalid',
  'MissingModel', // trainer: no model at the policy path
  'DeviceUnavailable', // trainer: device 'cuda' on a machine without one
]);

/** The innermost cause of a workflow failure: the activity's own message. */
export function describeFailure(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  let message = String(current?.message ?? err);
  while (current?.cause) {
    current = current.cause;
    if (current.message) message = current.message;
  }
  return message;
}

/** The innermost ApplicationFailure in a failure's cause chain, if any. */
function innermostApplicationFailure(err: unknown): ApplicationFailure | null {
  let found: ApplicationFailure | null = null;
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) found = current;
    current = current.cause;
  }
  return found;
}

/** Exit code for a run (or evaluation) that ended in `err`. */
export function runFailureExitCode(err: unknown): number {
  const failure = innermostApplicationFailure(err);
  return failure?.nonRetryable === true && inputFailureTypes.has(failure.type ?? '')
    ? exitCodes.badInput
    : exitCodes.runFailed;
}
