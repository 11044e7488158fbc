/** The workflows a tirflow worker registers (its workflowsPath). */
export { trainingRun } from './trainingRun';
export { rolloutShard } from './rolloutShard';
export { evaluate } from './evaluate';
export { evaluatePolicy } from './evaluatePolicy';
