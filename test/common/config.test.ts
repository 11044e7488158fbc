import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../activities/projectPaths';
import { loadRunConfig } from '../../cli/runConfigFile';
import { ConfigError, hyperparameterChangeError, parseRunConfig } from '../../common/config';

test('configs/zerotir-tiny.yaml spells out exactly the built-in default', () => {
  assert.deepEqual(loadRunConfig(join(projectRoot, 'configs/zerotir-tiny.yaml')), loadRunConfig(undefined));
});

test('the built-in default is the embedded tiny run on the shipped model and data', () => {
  const config = loadRunConfig(undefined);
  assert.equal(config.model, join(projectRoot, 'models/tiny-base'));
  assert.equal(config.data.train, join(projectRoot, 'data/tasks/train.jsonl'));
  assert.equal(config.template, 'tool');
  assert.equal(config.engine.kind, 'onnx');
});

test('every bad field is reported with its path', () => {
  assert.throws(
    () => parseRunConfig({ rollout: { samplesPerPrompt: 0, topP: 2 }, engine: { kind: 'tpu' } }, 'x.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid config x\.yaml:/);
      const paths = err.issues.map((issue) => issue.split(':')[0]);
      assert.deepEqual(paths.sort(), ['engine.kind', 'rollout.samplesPerPrompt', 'rollout.topP']);
      return true;
    },
  );
});

test('the openai engine needs an explicit weight-reload choice', () => {
  assert.throws(
    () => parseRunConfig({ engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm' } }),
    /engine\.weightReload/,
  );
  const ok = parseRunConfig({
    engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', weightReload: 'none' },
  });
  assert.equal(ok.engine.kind, 'openai');
});

test('vLLM weight reload needs the served policy link the server was started on', () => {
  const vllm = { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', weightReload: 'vllm' };
  assert.throws(
    () => parseRunConfig({ engine: vllm }),
    /engine\.servedPolicyLink: vLLM reloads from the folder/,
  );
  const ok = parseRunConfig({ engine: { ...vllm, servedPolicyLink: 'serving/policy' } });
  assert.equal(ok.engine.kind === 'openai' && ok.engine.servedPolicyLink, 'serving/policy');
});

test('live hyperparameter changes are whitelisted and range-checked', () => {
  assert.equal(hyperparameterChangeError({ learningRate: 1e-5, temperature: 0.7, toolBudget: 4 }), null);
  assert.match(hyperparameterChangeError({ toolBudget: -1 }) ?? '', /toolBudget/);
  assert.match(hyperparameterChangeError({ temperature: 0 }) ?? '', /temperature/);
  assert.match(
    hyperparameterChangeError({ seed: 3 } as unknown as Parameters<typeof hyperparameterChangeError>[0]) ??
      '',
    /"seed" cannot be changed/,
  );
});
