/** Exit codes scripts can rely on (documented in `tirflow train --help`). */
export const exitCodes = {
  ok: 0,
  /** The run failed, was terminated, or timed out. */
  runFailed: 1,
  /**
   * Bad input: config, options, unknown run (nothing was started), or a run that rejected its
   * model folder or dataset before its first step (cli/runFailure.ts).
   */
  badInput: 2,
  /** Temporal could not be reached. */
  unreachable: 3,
} as const;

/** An error that ends the command with a given exit code and one clear message. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
