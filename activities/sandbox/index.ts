/** The code sandbox: the warm pool, its limits and results, and the `executeCode` activity. */
export { createSandboxActivities, faultEnvVar, type SandboxActivityDeps } from './executeCode';
export { defaultSandboxLimits, resolveLimits, type SandboxLimits, type SandboxResult } from './limits';
export { defaultPreload, SandboxPool, type SandboxPoolOptions } from './pool';
