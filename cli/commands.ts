/** Every `tirflow` subcommand, in the order `tirflow --help` lists them. */
import type { Command } from 'commander';
import { registerDev } from './commands/dev';
import { registerGrade } from './commands/grade';
import { registerServe } from './commands/serve';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerDev, registerGrade, registerServe];
