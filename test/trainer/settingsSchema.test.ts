/**
 * The trainer settings are defined once (common/config.ts); the Python side reads the JSON the
 * generator writes from that definition. These tests keep the committed file equal to it and
 * check that the record sent to the trainer is the config's, whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  committedContractText,
  contractText,
  snakeCase,
  toWireSettings,
} from '../../activities/trainer/settingsSchema';
import { UPDATE_METRIC_NAMES } from '../../common/activityContracts';
import { parseRunConfig, trainerSettings, trainerUpdateShape } from '../../common/config';

test('python/tirflow_py/trainer/settings.schema.json is generated from the TypeScript definition', () => {
  assert.equal(
    committedContractText(),
    contractText(),
    'stale: run `npx tsx activities/trainer/settingsSchema.ts --write`',
  );
});

test('the contract lists every update setting, the seed and the temperature, each required', () => {
  const contract = JSON.parse(contractText()) as {
    settings: { properties: Record<string, { default: unknown; configKey: string }>; required: string[] };
    metrics: string[];
  };
  const expected = [...Object.keys(trainerUpdateShape), 'seed', 'temperature'].map(snakeCase);
  assert.deepEqual(Object.keys(contract.settings.properties), expected);
  assert.deepEqual(contract.settings.required, expected);
  assert.equal(contract.settings.properties.learning_rate!.configKey, 'trainer.learningRate');
  assert.deepEqual(contract.metrics, UPDATE_METRIC_NAMES.map(snakeCase));
});

test('the settings of a step are the config trainer keys, the run seed and the step temperature', () => {
  const config = parseRunConfig({ seed: 7, trainer: { weightDecay: 0.01, criticLearningRate: 9e-6 } });
  const wire = toWireSettings(trainerSettings(config.trainer, config.seed, 0.7));
  assert.equal(wire.weight_decay, 0.01);
  assert.equal(wire.critic_learning_rate, 9e-6);
  assert.equal(wire.seed, 7);
  assert.equal(wire.temperature, 0.7);
  assert.equal('processes_per_node' in wire, false); // how the trainer is launched, not a setting
  assert.throws(() => trainerSettings(config.trainer, config.seed, 0), /temperature/);
});
