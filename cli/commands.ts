/** Every `tirflow` subcommand, in the order `tirflow --help` lists them. */
import type { Command } from 'commander';
import { registerDev } from './commands/dev';
import { registerExec } from './commands/exec';
import { registerGrade } from './commands/grade';
import { registerServe } from './commands/serve';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerDev, registerExec, registerGrade, registerServe];
