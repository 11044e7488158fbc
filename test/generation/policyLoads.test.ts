/**
 * One weight reload per server and policy version, however many generate activities of a step
 * ask for it at once; against a real HTTP server on 127.0.0.1 that speaks SGLang's endpoint.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PolicyLoads } from '../../activities/generation/policyLoads';
import { reloadWeights } from '../../activities/generation/weightReload';

interface FakeSglang {
  baseUrl: string;
  /** model_path of every reload, in arrival order, with how many were in flight at arrival. */
  reloads: { modelPath: string; concurrent: number }[];
  failNext: boolean;
  server: Server;
}

async function startSglangLike(): Promise<FakeSglang> {
  const state = { reloads: [], failNext: false } as unknown as FakeSglang;
  let inFlight = 0;
  state.server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      inFlight += 1;
      state.reloads.push({
        modelPath: (JSON.parse(body) as { model_path: string }).model_path,
        concurrent: inFlight,
      });
      // Loading takes a while, as a real server's does: overlapping callers would show here.
      setTimeout(() => {
        inFlight -= 1;
        const ok = !state.failNext;
        state.failNext = false;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ success: ok, message: ok ? 'loaded' : 'out of memory' }));
      }, 100);
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.baseUrl = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/v1`;
  return state;
}

test('concurrent requests for one version reload once; a new version reloads again', async (t) => {
  const sglang = await startSglangLike();
  t.after(() => sglang.server.close());
  const loads = new PolicyLoads();
  const load = (version: number) =>
    loads.ensure(sglang.baseUrl, version, () =>
      reloadWeights('sglang', sglang.baseUrl, `policy-v${version}`),
    );

  const first = await Promise.all([load(1), load(1), load(1), load(1)]);
  assert.deepEqual(first.filter(Boolean).length, 1, 'exactly one caller ran the reload');
  assert.deepEqual(
    sglang.reloads.map((r) => r.modelPath),
    ['policy-v1'],
  );
  assert.equal(await load(1), false, 'an already loaded version is not reloaded');

  await Promise.all([load(2), load(3), load(2)]);
  assert.deepEqual(
    sglang.reloads.map((r) => r.modelPath),
    ['policy-v1', 'policy-v2', 'policy-v3'],
  );
  assert.ok(
    sglang.reloads.every((r) => r.concurrent === 1),
    'reloads of one server never overlap',
  );
});

test('a failed reload rejects its waiters and the next request retries it', async (t) => {
  const sglang = await startSglangLike();
  t.after(() => sglang.server.close());
  const loads = new PolicyLoads();
  const load = () =>
    loads.ensure(sglang.baseUrl, 7, () => reloadWeights('sglang', sglang.baseUrl, 'policy-v7'));

  sglang.failNext = true;
  const results = await Promise.allSettled([load(), load()]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.match(String((results[0] as PromiseRejectedResult).reason), /out of memory/);
  assert.equal(await load(), true, 'retried after the failure');
  assert.equal(sglang.reloads.length, 2);
});

test('vLLM: the served link points at the new policy before the server is asked to reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tirflow-vllm-link-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const version of ['base', 'v1', 'v2']) mkdirSync(join(dir, version));
  const link = join(dir, 'serving-policy');
  symlinkSync(join(dir, 'base'), link);

  // What vLLM would read at each call: the folder behind the link it was started on.
  const seen: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.url} ${realpathSync(link)}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;

  await reloadWeights('vllm', baseUrl, join(dir, 'v1'), 30, link);
  await reloadWeights('vllm', baseUrl, join(dir, 'v2'), 30, link);
  assert.deepEqual(seen, [
    `/collective_rpc ${join(dir, 'v1')}`,
    `/reset_prefix_cache ${join(dir, 'v1')}`,
    `/collective_rpc ${join(dir, 'v2')}`,
    `/reset_prefix_cache ${join(dir, 'v2')}`,
  ]);
  assert.deepEqual(
    readdirSync(dir).sort(),
    ['base', 'serving-policy', 'v1', 'v2'],
    'no temporary link is left behind',
  );
  await assert.rejects(reloadWeights('vllm', baseUrl, join(dir, 'v1'), 30), /servedPolicyLink/);
});
