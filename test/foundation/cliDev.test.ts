import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, temporalAnswers } from '../../cli/devServer';
import { runTirflow } from '../support/cli';

test('tirflow dev serves the Web UI and stops cleanly on Ctrl-C', async () => {
  const [port, uiPort] = [await freePort(), await freePort()];
  const dbFile = join(mkdtempSync(join(tmpdir(), 'tirflow-dev-')), 'temporal.sqlite');
  const dev = runTirflow(['dev', '--port', String(port), '--ui-port', String(uiPort), '--db-file', dbFile], {
    detached: true,
  });
  let output = '';
  dev.all?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const deadline = Date.now() + 90_000;
    while (!output.includes('Temporal is up')) {
      assert.ok(Date.now() < deadline, `dev server did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(output, new RegExp(`Web UI: http://localhost:${uiPort}`));
    const page = await fetch(`http://127.0.0.1:${uiPort}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);

    // A second `tirflow dev` on the same address reuses the running server.
    const second = await runTirflow(['dev', '--port', String(port), '--ui-port', String(uiPort)]);
    assert.equal(second.exitCode, 0);
    assert.match(second.stdout, /already answers/);
  } finally {
    process.kill(-dev.pid!, 'SIGINT'); // Ctrl-C: the terminal signals the whole foreground group
    await dev;
  }
  assert.match(output, /Stopped\./);
  assert.equal(await temporalAnswers(`127.0.0.1:${port}`, 500), false, 'server still answers after Ctrl-C');
});

test('tirflow dev rejects a bad port with one clear line', async () => {
  const result = await runTirflow(['dev', '--port', 'notaport']);
  assert.notEqual(result.exitCode, 0);
  const errorLines = result.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errorLines.length, 1);
  assert.match(errorLines[0]!, /notaport.*not a TCP port/);
});

test('tirflow rejects unknown options and prints readable help', async () => {
  const unknown = await runTirflow(['dev', '--bogus']);
  assert.notEqual(unknown.exitCode, 0);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  const help = await runTirflow(['--help']);
  assert.equal(help.exitCode, 0);
  assert.match(help.stdout, /Usage: tirflow/);
  assert.match(help.stdout, /dev/);
});
