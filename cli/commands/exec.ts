/**
 * `tirflow exec`: runs Python in exactly the sandbox the training run uses, for people and
 * scripts. Code on stdin → one JSON result line. With --jsonl, each stdin line is {id, code}
 * and each gets one result line, in input order; a malformed line gets an error line naming
 * its line number and the rest still run.
 */
import { createInterface } from 'node:readline';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { SandboxPool } from '../../activities/sandbox/pool';
import type { SandboxLimits, SandboxResult } from '../../activities/sandbox/limits';
import { parsePositiveInt } from '../options';

interface ExecOptions {
  jsonl?: boolean;
  timeoutS?: number;
  memoryMb?: number;
  poolSize?: number;
}

function parsePositiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a positive number of seconds.`);
  }
  return seconds;
}

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('Run Python from stdin in the code sandbox and print the result as JSON.')
    .option('--jsonl', 'read {"id", "code"} lines and write one result line each')
    .option('--timeout-s <seconds>', 'wall-clock limit per execution', parsePositiveSeconds)
    .option('--memory-mb <mb>', 'memory the code may use on top of the warm interpreter', parsePositiveInt)
    .option(
      '--pool-size <n>',
      'concurrent executions with --jsonl (default: the number of cores)',
      parsePositiveInt,
    )
    .action(async (opts: ExecOptions) => {
      const limits: Partial<SandboxLimits> = { timeoutS: opts.timeoutS, memoryMb: opts.memoryMb };
      const pool = new SandboxPool({
        size: opts.jsonl ? (opts.poolSize ?? availableParallelism()) : 1,
        limits,
      });
      await pool.start();
      try {
        if (opts.jsonl) {
          process.exitCode = (await runJsonl(pool)) ? 0 : 1;
        } else {
          const code = await readAll(process.stdin);
          writeLine(await pool.run(code));
        }
      } finally {
        await pool.close();
      }
    });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

type LineOutcome = Promise<Record<string, unknown>>;

/** Runs every well-formed line concurrently; prints in input order. False if any line was malformed. */
async function runJsonl(pool: SandboxPool): Promise<boolean> {
  const outcomes: LineOutcome[] = [];
  let lineNumber = 0;
  let allWellFormed = true;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    lineNumber++;
    if (line.trim() === '') continue;
    const parsed = parseLine(line, lineNumber);
    if ('error' in parsed) {
      allWellFormed = false;
      outcomes.push(Promise.resolve(parsed));
    } else {
      outcomes.push(pool.run(parsed.code).then((result: SandboxResult) => ({ id: parsed.id, ...result })));
    }
  }
  for (const outcome of outcomes) writeLine(await outcome);
  return allWellFormed;
}

function parseLine(
  line: string,
  lineNumber: number,
): { id: unknown; code: string } | { line: number; error: string } {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (err) {
    return { line: lineNumber, error: `line ${lineNumber} is not JSON: ${(err as Error).message}` };
  }
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof (record as { code?: unknown }).code !== 'string'
  ) {
    return { line: lineNumber, error: `line ${lineNumber} has no string "code" field` };
  }
  const { id, code } = record as { id?: unknown; code: string };
  return { id: id ?? lineNumber, code };
}

function writeLine(record: object): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}
