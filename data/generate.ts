/**
 * Task generator command line.
 *   npx tsx data/generate.ts splits [--seed S] [--out DIR] [--levels L1,..] [--train N] [--validation N] [--test N]
 *     writes DIR/{train,validation,test}.jsonl (defaults regenerate the shipped data/tasks/)
 *   npx tsx data/generate.ts rows --levels L4,L5 --count 10 [--seed S]
 *     prints ad-hoc rows as JSONL on stdout
 * Bad input (unknown level, negative count) exits 2 with one line on stderr.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LEVEL_NAMES } from './levels';
import {
  DEFAULT_SEED,
  DEFAULT_SPLIT_SIZES,
  GeneratorInputError,
  makeSplits,
  sampleRows,
  SPLIT_NAMES,
  toJsonl,
} from './splits';

function parseCount(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text.trim()))
    throw new GeneratorInputError(`--${name} must be an integer, got "${text}"`);
  return Number(text);
}

/** parseArgs reads `--count -3` as two options; join negative numbers so they reach our check. */
function joinNegativeValues(argv: string[]): string[] {
  const joined: string[] = [];
  for (const arg of argv) {
    const previous = joined[joined.length - 1];
    if (/^-\d/.test(arg) && previous?.startsWith('--') && !previous.includes('=')) {
      joined[joined.length - 1] = `${previous}=${arg}`;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(argv),
    allowPositionals: true,
    options: {
      seed: { type: 'string', default: DEFAULT_SEED },
      out: { type: 'string', default: 'data/tasks' },
      levels: { type: 'string', default: LEVEL_NAMES.join(',') },
      count: { type: 'string' },
      train: { type: 'string' },
      validation: { type: 'string' },
      test: { type: 'string' },
    },
  });
  const levels = values.levels.split(',').map((level) => level.trim());
  const command = positionals[0];
  if (command === 'splits') {
    const splits = makeSplits(
      levels,
      {
        train: parseCount('train', values.train, DEFAULT_SPLIT_SIZES.train),
        validation: parseCount('validation', values.validation, DEFAULT_SPLIT_SIZES.validation),
        test: parseCount('test', values.test, DEFAULT_SPLIT_SIZES.test),
      },
      values.seed,
    );
    mkdirSync(values.out, { recursive: true });
    for (const name of SPLIT_NAMES) {
      const path = join(values.out, `${name}.jsonl`);
      writeFileSync(path, toJsonl(splits[name]));
      console.error(`wrote ${splits[name].length} rows to ${path}`);
    }
  } else if (command === 'rows') {
    if (values.count === undefined) throw new GeneratorInputError('rows needs --count N');
    process.stdout.write(toJsonl(sampleRows(levels, parseCount('count', values.count, 0), values.seed)));
  } else {
    throw new GeneratorInputError(`unknown command "${command ?? ''}" (use "splits" or "rows")`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  // One clear line, no stack: these are usage errors, not bugs.
  const message = err instanceof Error ? err.message : String(err);
  console.error(`data/generate: ${message.split('\n')[0]}`);
  process.exitCode = 2;
}
