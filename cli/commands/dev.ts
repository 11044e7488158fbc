/** `tirflow dev`: the local Temporal dev server with its Web UI, state kept under .tirflow/. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { stateDir } from '../../activities/projectPaths';
import { startDevServer, temporalAnswers } from '../devServer';
import { parsePort } from '../options';

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('Start the local Temporal dev server (SQLite state in .tirflow/, Web UI) until Ctrl-C.')
    .option('--port <port>', 'gRPC port of the Temporal frontend', parsePort, 7233)
    .option('--ui-port <port>', 'port of the Temporal Web UI', parsePort, 8233)
    .option('--db-file <path>', 'SQLite file for durable server state', join(stateDir, 'temporal.sqlite'))
    .action(async (opts: { port: number; uiPort: number; dbFile: string }) => {
      const address = `127.0.0.1:${opts.port}`;
      if (await temporalAnswers(address)) {
        console.log(`A Temporal server already answers on ${address}; using it.`);
        console.log(`Web UI (if that server serves one): http://localhost:${opts.uiPort}`);
        return;
      }
      console.log(`Starting the Temporal dev server on ${address} (state: ${opts.dbFile}) ...`);
      const server = await startDevServer({ port: opts.port, uiPort: opts.uiPort, dbFile: opts.dbFile });
      console.log(`Temporal is up. gRPC: ${server.address}   Web UI: http://localhost:${opts.uiPort}`);
      console.log('Press Ctrl-C to stop.');
      let stopping: Promise<void> | null = null;
      const stop = (): void => {
        stopping ??= (async () => {
          console.log('\nStopping the Temporal dev server ...');
          await server.stop();
          console.log('Stopped.');
        })();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const exit = await server.process;
      // Ctrl-C signals the server too, so it may exit before our handler has finished.
      await new Promise((r) => setTimeout(r, 100));
      if (stopping) return stopping;
      throw new Error(`the Temporal dev server exited unexpectedly (code ${exit.exitCode ?? exit.signal})`);
    });
}
