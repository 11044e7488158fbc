/** What one sandboxed execution may use, and what it returns. */
import type { ExecutionResult } from '../../common/trajectory';

export interface SandboxLimits {
  /** Wall-clock seconds, enforced from outside the code with SIGKILL. */
  timeoutS: number;
  /** Address space the code may add to the warm interpreter's, MiB (RLIMIT_AS). */
  memoryMb: number;
  /** Bytes kept of stdout (its head) and of stderr (its tail, where the traceback is). */
  outputBytes: number;
  /** RLIMIT_NPROC: processes and threads of the sandbox uid. */
  processes: number;
  /** RLIMIT_FSIZE: the largest file the code may write, bytes. */
  fileBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
}

/** The outcome of one execution: always data, never an exception. */
export type SandboxResult = Omit<ExecutionResult, 'trajectoryId'>;

export const defaultSandboxLimits: SandboxLimits = {
  timeoutS: 5,
  memoryMb: 512,
  outputBytes: 16 * 1024,
  processes: 64,
  fileBytes: 16 * 1024 * 1024,
  openFiles: 256,
};

const integerLimits = ['memoryMb', 'outputBytes', 'processes', 'fileBytes', 'openFiles'] as const;

/** Fills defaults and rejects nonsense (a caller's bug, so it throws). */
export function resolveLimits(
  overrides: Partial<SandboxLimits> = {},
  base: SandboxLimits = defaultSandboxLimits,
): SandboxLimits {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const limits: SandboxLimits = { ...base, ...defined };
  if (!Number.isFinite(limits.timeoutS) || limits.timeoutS <= 0 || limits.timeoutS > 3600) {
    throw new RangeError(`sandbox timeoutS must be in (0, 3600], got ${limits.timeoutS}`);
  }
  for (const name of integerLimits) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`sandbox ${name} must be a positive integer, got ${value}`);
    }
  }
  return limits;
}
