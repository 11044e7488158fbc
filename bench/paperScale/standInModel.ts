/**
 * A model folder for paper-length responses: the shipped tiny model's tokenizer and weights, its
 * config declaring a longer context. The simulated engine runs no model, but a run's inputs are
 * checked as for a real one (prepareRun: weights whole, tokenizer loads, every prompt fits the
 * context with maxResponseTokens to spare), and 8192-token responses do not fit 512 positions.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILES = [
  'model.safetensors',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

export function makeStandInModel(source: string, dir: string, contextTokens: number): string {
  mkdirSync(dir, { recursive: true });
  for (const name of FILES)
    if (existsSync(join(source, name))) copyFileSync(join(source, name), join(dir, name));
  const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ ...config, max_position_embeddings: contextTokens }, null, 2) + '\n',
  );
  writeFileSync(
    join(dir, 'README.md'),
    `Stand-in for the dry run: ${source} with max_position_embeddings ${contextTokens}. Not a usable model.\n`,
  );
  return dir;
}
