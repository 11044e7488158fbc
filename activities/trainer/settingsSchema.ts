/**
 * The trainer contract the Python side reads, generated from its one definition in TypeScript:
 * the update settings (common/config.ts trainerSettingsSchema) as a JSON Schema with snake_case
 * keys, and the names of the update metrics (common/activityContracts.ts UPDATE_METRIC_NAMES).
 * python/tirflow_py/trainer/settings.py validates each `train_step` against it (missing keys and
 * unknown keys refused) and takes its defaults from it for tests and tools.
 *
 * After changing either definition: `npx tsx activities/trainer/settingsSchema.ts --write`
 * (test/trainer/settingsSchema.test.ts fails while the committed file is stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UPDATE_METRIC_NAMES } from '../../common/activityContracts';
import { trainerSettingsSchema, trainerUpdateShape, type TrainerSettings } from '../../common/config';
import { pythonProjectDir } from '../projectPaths';

export const settingsSchemaPath = join(pythonProjectDir, 'tirflow_py', 'trainer', 'settings.schema.json');

/** learningRate → learning_rate: the one rule between the config's names and the trainer's. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** The settings record as the Python trainer receives it. */
export function toWireSettings(settings: TrainerSettings): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).map(([key, value]) => [snakeCase(key), value]));
}

/** Where each wire key comes from in the run config, for error messages and readers. */
function configKey(name: string): string {
  if (name === 'seed') return 'seed';
  if (name === 'temperature') return "rollout.temperature (the step's, after live changes)";
  if (name in trainerUpdateShape) return `trainer.${name}`;
  throw new Error(`no config key for trainer setting ${name}`);
}

interface PropertySchema {
  [key: string]: unknown;
}

export function trainerContract(): Record<string, unknown> {
  const json = z.toJSONSchema(trainerSettingsSchema, { io: 'output' }) as {
    properties: Record<string, PropertySchema>;
    required: string[];
  };
  const properties = Object.fromEntries(
    Object.entries(json.properties).map(([name, schema]) => [
      snakeCase(name),
      { ...schema, configKey: configKey(name) },
    ]),
  );
  return {
    description:
      'Generated from common/config.ts (trainerSettingsSchema) and common/activityContracts.ts ' +
      '(UPDATE_METRIC_NAMES) by activities/trainer/settingsSchema.ts; do not edit.',
    settings: {
      type: 'object',
      properties,
      required: json.required.map(snakeCase),
      additionalProperties: false,
    },
    metrics: UPDATE_METRIC_NAMES.map(snakeCase),
  };
}

export function contractText(): string {
  return JSON.stringify(trainerContract(), null, 2) + '\n';
}

export function committedContractText(): string {
  return readFileSync(settingsSchemaPath, 'utf8');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    writeFileSync(settingsSchemaPath, contractText());
    console.log(`wrote ${settingsSchemaPath}`);
  } else {
    const stale = committedContractText() !== contractText();
    console.log(stale ? `${settingsSchemaPath} is stale: run with --write` : 'up to date');
    process.exitCode = stale ? 1 : 0;
  }
}
