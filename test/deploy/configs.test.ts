/**
 * The run configs in configs/ as `tirflow train -c` reads them: each validates against the
 * schema; the GPU recipes are the paper's setting, reload weights after each update, and talk
 * to the inference servers that docker/compose.yaml defines.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../activities/projectPaths';
import { loadRunConfig } from '../../cli/runConfigFile';
import type { RunConfig } from '../../common/config';

const configsDir = join(projectRoot, 'configs');
const load = (name: string): RunConfig => loadRunConfig(join(configsDir, name));

test('every config in configs/ validates against the run config schema', () => {
  const files = readdirSync(configsDir).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.includes('zerotir-qwen2.5-7b.yaml') && files.includes('zerotir-qwen2.5-7b-vllm.yaml'));
  for (const file of files) assert.doesNotThrow(() => load(file), file);
});

test("the 7B recipe is the paper's setting", () => {
  const config = load('zerotir-qwen2.5-7b.yaml');
  assert.match(config.model, /Qwen2\.5-7B$/);
  assert.equal(config.template, 'tool');
  assert.deepEqual(
    {
      prompts: config.rollout.promptsPerStep,
      samples: config.rollout.samplesPerPrompt,
      toolBudget: config.rollout.toolBudget,
      maxTokens: config.rollout.maxResponseTokens,
      temperature: config.rollout.temperature,
    },
    { prompts: 128, samples: 16, toolBudget: 2, maxTokens: 8192, temperature: 1 },
  );
  const { algorithm, learningRate, klCoef, epsLow, epsHigh, lossAggregation, dynamicFiltering } =
    config.trainer;
  assert.deepEqual(
    { algorithm, learningRate, klCoef, epsLow, epsHigh, lossAggregation, dynamicFiltering },
    {
      algorithm: 'reinforce_pp_baseline',
      learningRate: 1e-6,
      klCoef: 0,
      epsLow: 0.2,
      epsHigh: 0.28,
      lossAggregation: 'token',
      dynamicFiltering: true,
    },
  );
});

test('the vLLM recipe differs from the SGLang one in the engine only', () => {
  const sglang = load('zerotir-qwen2.5-7b.yaml');
  const vllm = load('zerotir-qwen2.5-7b-vllm.yaml');
  assert.deepEqual({ ...vllm, engine: null }, { ...sglang, engine: null });
  assert.equal(sglang.engine.kind === 'openai' && sglang.engine.weightReload, 'sglang');
  assert.equal(vllm.engine.kind === 'openai' && vllm.engine.weightReload, 'vllm');
});

test('each openai config reloads weights and names a server and model docker/compose.yaml serves', () => {
  const compose = parseYaml(readFileSync(join(projectRoot, 'docker', 'compose.yaml'), 'utf8')) as {
    services: Record<string, { command?: string[] }>;
  };
  const option = (command: string[], name: string): string | undefined => command[command.indexOf(name) + 1];
  for (const file of ['zerotir-qwen2.5-7b.yaml', 'zerotir-qwen2.5-7b-vllm.yaml']) {
    const { engine } = load(file);
    assert.equal(engine.kind, 'openai', file);
    if (engine.kind !== 'openai') continue;
    assert.notEqual(engine.weightReload, 'none', `${file}: the server must load each new policy`);
    const url = new URL(engine.baseUrl);
    assert.equal(url.pathname, '/v1', file);
    const server = compose.services[url.hostname];
    assert.ok(server?.command, `${file}: no compose service "${url.hostname}"`);
    assert.equal(url.hostname, engine.weightReload, `${file}: reload protocol of the server it names`);
    assert.equal(option(server.command, '--port'), url.port, `${file}: the server's port`);
    assert.equal(option(server.command, '--served-model-name'), engine.model, `${file}: the served model`);
    if (engine.weightReload === 'vllm') {
      // vLLM re-reads the folder it started on: that must be the link tirflow re-points.
      assert.equal(option(server.command, '--model'), engine.servedPolicyLink, `${file}: vLLM's --model`);
    }
  }
});
