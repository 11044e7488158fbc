/** `tirflow serve` on a free 127.0.0.1 port, as a real child process, for engine tests. */
import { freePort } from '../../cli/devServer';
import { runTirflow } from './cli';

export interface ServedPolicy {
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startServe(onnxDir: string, name: string): Promise<ServedPolicy> {
  const port = await freePort();
  const server = runTirflow(['serve', '--model', onnxDir, '--port', String(port), '--name', name]);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('/v1')) resolve();
    });
    void server.then((r) => reject(new Error(`tirflow serve exited: ${String(r.stderr)}`)));
  });
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    async stop() {
      server.kill('SIGTERM');
      await server;
    },
  };
}
