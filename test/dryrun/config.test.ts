/** The dry run's config keys: the simulated engine's defaults and bounds, the simulated trainer's pairing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseRunConfig } from '../../common/config';

function issues(value: unknown): string[] {
  try {
    parseRunConfig(value);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.issues];
  }
  return [];
}

test('a simulated engine gets defaults for everything but its kind', () => {
  const { engine, trainer } = parseRunConfig({ engine: { kind: 'simulated' } });
  assert.equal(engine.kind, 'simulated');
  if (engine.kind !== 'simulated') return;
  assert.deepEqual(engine.responseTokens, { min: 256, max: 8192 });
  assert.ok(engine.tokensPerSecond > 0);
  assert.ok(engine.answerKey.length > 0);
  assert.equal(trainer.kind, undefined, 'the trainer stays the torch trainer unless asked');
});

test('bad simulated engine settings are reported by path', () => {
  assert.deepEqual(issues({ engine: { kind: 'simulated', responseTokens: { min: 900, max: 100 } } }), [
    'engine.responseTokens: min must not exceed max',
  ]);
  assert.match(issues({ engine: { kind: 'simulated', codeRate: 1.5 } })[0]!, /^engine\.codeRate: /);
  assert.match(
    issues({ engine: { kind: 'simulated', tokensPerSecond: 0 } })[0]!,
    /^engine\.tokensPerSecond: /,
  );
  assert.match(issues({ engine: { kind: 'simulated', temperature: 1 } })[0]!, /^engine: .*temperature/);
});

test('a simulated update is refused with an engine that would load its (absent) weights', () => {
  const onnx = issues({ trainer: { kind: 'simulated' } });
  assert.equal(onnx.length, 1);
  assert.match(onnx[0]!, /^trainer\.kind: a simulated update writes no weights/);
  const vllm = issues({
    trainer: { kind: 'simulated' },
    engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', weightReload: 'sglang' },
  });
  assert.match(vllm[0]!, /^trainer\.kind: /);
  assert.deepEqual(
    issues({ trainer: { kind: 'simulated', simulatedUpdateS: 30 }, engine: { kind: 'simulated' } }),
    [],
  );
  assert.deepEqual(
    issues({
      trainer: { kind: 'simulated' },
      engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', weightReload: 'none' },
    }),
    [],
  );
  assert.match(
    issues({ trainer: { simulatedUpdateS: -1 }, engine: { kind: 'simulated' } })[0]!,
    /^trainer\.simulatedUpdateS: /,
  );
});
