/**
 * `tirflow grade`: math-verify grading through the same process pool as the reward worker.
 *   --pred P --ref R           one answer; prints {"correct": bool, "status": ...}
 *   --jsonl [FILE|-]           {id, pred, ref} lines in, one result line out each
 *   --response-file F --ref R  a whole response: format check, extraction, then grading
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { text } from 'node:stream/consumers';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { checkAnswer, formatModes, type FormatMode, lastBoxed } from '../../common/answer';
import { type GradeOutcome, GraderPool } from '../../activities/reward/graderPool';
import { CliError, exitCodes } from '../exitCodes';
import { parsePositiveInt } from '../options';

interface GradeOptions {
  pred?: string;
  ref?: string;
  jsonl?: string | true;
  responseFile?: string;
  formatMode: FormatMode;
  truncated: boolean;
  timeoutMs: number;
  workers?: number;
}

/** One parsed line of --jsonl input, or the reason it was rejected. */
export type JsonlItem =
  { line: number; id: unknown; pred: string; ref: string } | { line: number; error: string };

/** Parses {id, pred, ref} lines; blank lines are skipped, bad ones become errors naming their line. */
export function parseGradeJsonl(input: string): JsonlItem[] {
  const items: JsonlItem[] = [];
  input.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      items.push({ line, error: 'not valid JSON' });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      items.push({ line, error: 'expected a JSON object {id, pred, ref}' });
      return;
    }
    const { id, pred, ref } = value as Record<string, unknown>;
    if (typeof pred !== 'string' || typeof ref !== 'string') {
      items.push({ line, error: 'fields "pred" and "ref" must be strings' });
      return;
    }
    items.push({ line, id: id ?? line, pred, ref });
  });
  return items;
}

const resultOf = (outcome: GradeOutcome): Record<string, unknown> => ({
  correct: outcome.correct,
  status: outcome.status,
  predParsed: outcome.predParsed,
  ...(outcome.message === null ? {} : { message: outcome.message }),
});

function parseFormatMode(value: string): FormatMode {
  const mode = formatModes.find((m) => m === value);
  if (!mode)
    throw new InvalidArgumentError(`expected one of ${formatModes.map((m) => `"${m}"`).join(', ')}.`);
  return mode;
}

export function registerGrade(program: Command): void {
  program
    .command('grade')
    .description('Grade answers with math-verify (the reward worker’s grader pool).')
    .option('--pred <latex>', 'predicted answer (a \\boxed{} in it is unwrapped)')
    .option('--ref <latex>', 'reference answer')
    .addOption(new Option('--jsonl [file]', 'grade {id, pred, ref} lines from a file or - (stdin)'))
    .option('--response-file <file>', 'grade a whole model response: format check, then the boxed answer')
    .option(
      '--format-mode <mode>',
      'strict (the paper: one </think>, one <answer> with \\boxed{}), answerTag (strict without the </think> count) or loose (last \\boxed{})',
      parseFormatMode,
      'strict',
    )
    .option('--truncated', 'with --response-file: the response hit the token limit', false)
    .option('--timeout-ms <ms>', 'per-item grading limit', parsePositiveInt, 10_000)
    .option('--workers <n>', 'grader processes (default: one per core)', parsePositiveInt)
    .action(async (opts: GradeOptions) => {
      const modes = [opts.pred !== undefined, opts.jsonl !== undefined, opts.responseFile !== undefined];
      if (modes.filter(Boolean).length !== 1) {
        throw new CliError('give exactly one of --pred, --jsonl or --response-file', exitCodes.badInput);
      }
      if (opts.jsonl === undefined && opts.ref === undefined)
        throw new CliError('--ref is required with --pred and --response-file', exitCodes.badInput);
      if (opts.jsonl !== undefined) {
        process.exitCode = await gradeJsonl(opts.jsonl === true ? '-' : opts.jsonl, opts);
        return;
      }
      const graders = await GraderPool.start({ size: 1, itemTimeoutMs: opts.timeoutMs });
      try {
        if (opts.pred !== undefined) {
          const pred = lastBoxed(opts.pred) ?? opts.pred;
          console.log(JSON.stringify(resultOf(await graders.grade({ pred, ref: opts.ref! }))));
        } else {
          const response = await readInput(opts.responseFile!);
          const check = checkAnswer(response, opts.truncated ? 'length' : 'answer', opts.formatMode);
          if (!check.ok) {
            console.log(
              JSON.stringify({
                correct: false,
                status: 'format',
                formatFailure: check.failure,
                message: check.message,
              }),
            );
          } else {
            const outcome = await graders.grade({ pred: check.answer, ref: opts.ref! });
            console.log(JSON.stringify({ extractedAnswer: check.answer, ...resultOf(outcome) }));
          }
        }
      } finally {
        await graders.close();
      }
    });
}

/** A file the user named, or exit 2 naming it. */
async function readInput(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      exitCodes.badInput,
    );
  }
}

/** Grades a JSONL file; returns the exit code (2, bad input, when any line was malformed). */
async function gradeJsonl(source: string, opts: GradeOptions): Promise<number> {
  const input = source === '-' ? await text(process.stdin) : await readInput(source);
  const items = parseGradeJsonl(input);
  let malformed = 0;
  for (const item of items) {
    if ('error' in item) {
      malformed += 1;
      console.error(
        JSON.stringify({ line: item.line, status: 'error', error: `line ${item.line}: ${item.error}` }),
      );
    }
  }
  const valid = items.filter((item): item is Extract<JsonlItem, { pred: string }> => !('error' in item));
  if (valid.length > 0) {
    const size = Math.min(opts.workers ?? availableParallelism(), valid.length);
    const graders = await GraderPool.start({ size, itemTimeoutMs: opts.timeoutMs });
    try {
      const outcomes = await graders.gradeAll(valid.map((item) => ({ pred: item.pred, ref: item.ref })));
      valid.forEach((item, i) => console.log(JSON.stringify({ id: item.id, ...resultOf(outcomes[i]!) })));
    } finally {
      await graders.close();
    }
  }
  return malformed > 0 ? exitCodes.badInput : exitCodes.ok;
}
