/**
 * The `tirflow` command. Each subcommand lives in its own module under cli/commands/ and is
 * registered here; unknown options and commands are errors (commander's defaults, made strict).
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands';
import { CliError } from './exitCodes';

// `tirflow status X | head -2`: the reader went away. That is not an error of ours: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = new Command()
  .name('tirflow')
  .description('Durable agent RL with spontaneous code execution (ZeroTIR), orchestrated by Temporal.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    process.exitCode = err.exitCode;
  } else if (err instanceof CliError) {
    console.error(`tirflow: ${err.message}`);
    process.exitCode = err.exitCode;
  } else {
    console.error(`tirflow: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
