/** Every `tirflow` subcommand, in the order `tirflow --help` lists them. */
import type { Command } from 'commander';
import { registerDev } from './commands/dev';
import { registerExec } from './commands/exec';
import { registerGrade } from './commands/grade';
import { registerServe } from './commands/serve';
import { registerControl } from './commands/control';
import { registerStatus } from './commands/status';
import { registerTensorboard } from './commands/tensorboard';
import { registerDemo } from './commands/demo';
import { registerEval } from './commands/eval';
import { registerReport } from './commands/report';
import { registerScalingLaw } from './commands/scalingLaw';
import { registerTrain } from './commands/train';
import { registerWorker } from './commands/worker';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerDemo,
  registerTrain,
  registerStatus,
  registerControl,
  registerEval,
  registerWorker,
  registerDev,
  registerServe,
  registerExec,
  registerGrade,
  registerReport,
  registerTensorboard,
  registerScalingLaw,
];
