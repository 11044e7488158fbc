/**
 * The ZeroTIR tool protocol, the one home of it: prompt templates, the two-state stop logic
 * ("```python" then "```"), code extraction, observation text and cap, the tool budget, and
 * token bookkeeping (every response token tagged model = 1 or tool output = 0 in the action
 * mask, with its behaviour log-prob, and each turn's policy version and finish time; ids are
 * appended as produced and never re-tokenized from text).
 *
 * Pure: no I/O. Tokenizer functions are passed in, so workflows and tests can import it.
 */
import { deriveSeed } from './schedule';
import type { ExecutionResult, StopReason, Trajectory } from './trajectory';

export type PromptTemplate = 'tool' | 'noTool';

export const CODE_OPEN = '```python';
export const CODE_CLOSE = '```';
export const ANSWER_CLOSE = '</answer>';
/** A base model continues the conversation on its own; a new speaker ends the response. */
export const TURN_STOPS = ['User:', 'Human:', 'Assistant:'] as const;
export const DEFAULT_OBSERVATION_TOKEN_CAP = 256;
export const OUTPUT_TOO_LONG = 'Output too long: print only what you need.';

const PREAMBLE =
  'A conversation between User and Assistant. The User asks a question, and the Assistant solves it. ' +
  'The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. ' +
  'The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, ' +
  'respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.';
const TOOL_SENTENCE =
  ' While thinking, the Assistant may write Python code in a ```python code block; the code is run and its output ' +
  'is shown in a ```output block.';
const INSTRUCTION =
  'User: You must put your answer inside <answer> </answer> tags, i.e., <answer> answer here </answer>. ' +
  'And your final answer will be extracted automatically by the \\boxed{} tag.\nThis is the problem:\n';

/** The ORZ-style base-model prompt; generation starts right after "Assistant: <think>". */
export function renderPrompt(template: PromptTemplate, problem: string): string {
  const preamble = template === 'tool' ? PREAMBLE + TOOL_SENTENCE : PREAMBLE;
  return `${preamble} ${INSTRUCTION}${problem}\nAssistant: <think>`;
}

/** Which state of the two-state stop logic a generation segment is in. */
export type SegmentKind = 'reasoning' | 'code';

/** Parameters a trajectory needs from the rollout settings. */
export interface ProtocolSettings {
  template: PromptTemplate;
  /** Code blocks a trajectory may execute; at the budget the code stop is removed. */
  toolBudget: number;
  /** Limit on the whole response: model tokens plus tool-output tokens. */
  maxResponseTokens: number;
  observationTokenCap: number;
}

/** What to ask the engine for next: stops, token room and the segment's seed. */
export interface SegmentRequest {
  kind: SegmentKind;
  stop: string[];
  maxTokens: number;
  seed: number;
}

/** What an engine produced for one segment. Text is not part of it: ids are the truth. */
export interface SegmentOutput {
  tokenIds: number[];
  /** Same length as tokenIds: each token's log-prob under the distribution it was sampled from. */
  logprobs: number[];
  /** 'stop' = a stop string or an end-of-sequence token; 'length' = out of token room. */
  finishReason: 'stop' | 'length';
}

export interface Tokenizer {
  encode: (text: string) => number[];
  /** Decodes for humans and grading; special tokens (EOS) are skipped. */
  decode: (ids: readonly number[]) => string;
  eosTokenIds: readonly number[];
}

/** True while the response ends inside an opened, not yet closed ```python block. */
export function insideCodeBlock(responseText: string): boolean {
  const open = responseText.lastIndexOf(CODE_OPEN);
  return open >= 0 && !responseText.includes(CODE_CLOSE, open + CODE_OPEN.length);
}

/**
 * The next segment of an active trajectory, or null when it has no token room left.
 * Reasoning stops on "```python" while budget remains; inside a code block only "```" stops.
 */
export function nextSegment(trajectory: Trajectory, settings: ProtocolSettings): SegmentRequest | null {
  const room = settings.maxResponseTokens - trajectory.responseTokenIds.length;
  if (room <= 0) return null;
  const seed = deriveSeed(trajectory.seed, trajectory.responseTokenIds.length);
  if (settings.template === 'tool' && insideCodeBlock(trajectory.responseText)) {
    return { kind: 'code', stop: [CODE_CLOSE], maxTokens: room, seed };
  }
  const stop: string[] = [...TURN_STOPS, ANSWER_CLOSE];
  if (settings.template === 'tool' && trajectory.toolCalls < settings.toolBudget) stop.unshift(CODE_OPEN);
  return { kind: 'reasoning', stop, maxTokens: room, seed };
}

/**
 * The stop string completed first in `text` among those that end after `newFrom` (where the
 * segment's new text starts). A stop may straddle the boundary or several tokens; one that
 * lies wholly in earlier text (an observation, the previous segment) does not count.
 */
export function findStop(
  text: string,
  stops: readonly string[],
  newFrom = 0,
): { stop: string; index: number } | null {
  let best: { stop: string; index: number } | null = null;
  for (const stop of stops) {
    const index = text.indexOf(stop, Math.max(0, newFrom - stop.length + 1));
    if (index < 0) continue;
    if (best === null || index + stop.length < best.index + best.stop.length) best = { stop, index };
  }
  return best;
}

/** The body of the last ```python block: from after its opening line to its closing fence. */
export function extractCode(responseText: string): string {
  const open = responseText.lastIndexOf(CODE_OPEN);
  if (open < 0) return '';
  let start = open + CODE_OPEN.length;
  const newline = responseText.indexOf('\n', start);
  const close = responseText.indexOf(CODE_CLOSE, start);
  // Text on the fence line after "```python" (e.g. "```python3") is not code.
  if (newline >= 0 && (close < 0 || newline < close)) start = newline + 1;
  const end = close >= 0 ? close : responseText.length;
  return responseText.slice(start, Math.max(start, end)).replace(/\s+$/, '');
}

/**
 * Applies one engine segment: appends its ids as model tokens (mask 1), re-decodes the
 * response and decides the trajectory's next phase. A reasoning segment that stopped at
 * "```python" stays active (the caller continues with the code segment at once).
 */
export function applySegment(
  trajectory: Trajectory,
  request: SegmentRequest,
  output: SegmentOutput,
  tokenizer: Tokenizer,
): Trajectory {
  if (output.logprobs.length !== output.tokenIds.length) {
    throw new Error(
      `engine returned ${output.logprobs.length} log-probs for ${output.tokenIds.length} tokens (trajectory ${trajectory.id})`,
    );
  }
  const before = trajectory.responseText;
  const responseTokenIds = [...trajectory.responseTokenIds, ...output.tokenIds];
  const actionMask = [...trajectory.actionMask, ...output.tokenIds.map(() => 1)];
  const responseText = tokenizer.decode(responseTokenIds);
  const next = withBehaviour(
    { ...trajectory, responseTokenIds, actionMask, responseText },
    behaviourAfter(trajectory, output.logprobs.map(storedLogprob)),
  );

  // The new text starts where the old one ended: decoding is prefix-stable for ids that form
  // whole characters, and the code segment may begin inside the token that opened the block.
  const matched = findStop(responseText, request.stop, before.length);
  const last = output.tokenIds[output.tokenIds.length - 1];
  const endedByEos = last !== undefined && tokenizer.eosTokenIds.includes(last);

  if (matched && !endedByEos) {
    if (matched.stop === CODE_OPEN) return { ...next, phase: 'active', stopReason: null };
    if (request.kind === 'code') {
      return {
        ...next,
        phase: 'awaitingExecution',
        stopReason: 'code',
        toolCalls: trajectory.toolCalls + 1,
        pendingCode: extractCode(responseText),
      };
    }
    const reason: StopReason = matched.stop === ANSWER_CLOSE ? 'answer' : 'stop';
    return { ...next, phase: 'finished', stopReason: reason };
  }
  if (endedByEos) return { ...next, phase: 'finished', stopReason: 'eos' };
  // A server may stop on something this module cannot see in the ids (a stop token id it was
  // configured with): the segment still ended by a stop, not by running out of room.
  return { ...next, phase: 'finished', stopReason: output.finishReason === 'stop' ? 'stop' : 'length' };
}

/** The text shown to the model for one execution (the {result} of the output block). */
export function observationResult(result: ExecutionResult): string {
  const stdout = result.stdout.replace(/\s+$/, '');
  const lastLines = (text: string, n: number): string =>
    text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-n)
      .join('\n');
  const withStdout = (message: string): string => (stdout ? `${stdout}\n${message}` : message);
  switch (result.status) {
    case 'ok':
      return stdout || lastLines(result.stderr, 3);
    case 'error':
      // The last traceback line names the exception ("ZeroDivisionError: division by zero").
      return withStdout(lastLines(result.stderr, 1) || `Error: exit code ${result.exitCode ?? 'unknown'}`);
    case 'timeout':
      return withStdout('TimeoutError: execution timed out');
    case 'memory':
      return withStdout('MemoryError: execution ran out of memory');
    case 'killed':
      return withStdout('Killed');
  }
}

export function observationText(result: string): string {
  return `\n\`\`\`output\n${result}\n\`\`\`\n`;
}

/** Tokenized observation block; results over `cap` tokens become OUTPUT_TOO_LONG. */
export function buildObservation(
  result: ExecutionResult,
  tokenizer: Tokenizer,
  cap: number,
): { tokenIds: number[]; text: string; tooLong: boolean } {
  let body = observationResult(result);
  // A token is at least one character, so a body this long is over the cap without encoding it.
  const tooLong = body.length > cap * 64 || tokenizer.encode(body).length > cap;
  if (tooLong) body = OUTPUT_TOO_LONG;
  const text = observationText(body);
  return { tokenIds: tokenizer.encode(text), text, tooLong };
}

/**
 * Appends an execution's observation with mask 0 and makes the trajectory active again. When
 * the observation does not fit the response budget it is cut there and the trajectory ends.
 */
export function appendObservation(
  trajectory: Trajectory,
  result: ExecutionResult,
  tokenizer: Tokenizer,
  settings: ProtocolSettings,
): Trajectory {
  if (trajectory.phase !== 'awaitingExecution') {
    throw new Error(`trajectory ${trajectory.id} is ${trajectory.phase}, not awaiting execution`);
  }
  const observation = buildObservation(result, tokenizer, settings.observationTokenCap);
  const room = Math.max(0, settings.maxResponseTokens - trajectory.responseTokenIds.length);
  const appended = observation.tokenIds.slice(0, room);
  const responseTokenIds = [...trajectory.responseTokenIds, ...appended];
  const fits = appended.length === observation.tokenIds.length && appended.length < room;
  // Tool output was not sampled: its log-prob is a placeholder 0, masked like its loss.
  const behaviour = behaviourAfter(
    trajectory,
    appended.map(() => 0),
  );
  return withBehaviour(
    {
      ...trajectory,
      responseTokenIds,
      actionMask: [...trajectory.actionMask, ...appended.map(() => 0)],
      responseText: tokenizer.decode(responseTokenIds),
      phase: fits ? 'active' : 'finished',
      stopReason: fits ? null : 'length',
      pendingCode: null,
      executions: [
        ...trajectory.executions,
        {
          status: result.status,
          durationMs: result.durationMs,
          observationTokens: appended.length,
          truncated: result.truncated || observation.tooLong,
        },
      ],
    },
    behaviour,
  );
}

/**
 * Behaviour log-probs are stored to 1e-6. A paper-size step holds about 10 M of them, and a
 * double's shortest JSON text (about 20 characters) tripled the step's artifact bytes in the dry
 * run (docs/scaling-out.md); 1e-6 is far below the engine-vs-trainer gap (about 4e-5) that the
 * importance weights see. Dividing the rounded integer by 1e6 gives the double nearest the
 * 6-decimal value, so its JSON text is that short decimal.
 */
export function storedLogprob(logprob: number): number {
  return Math.round(logprob * 1e6) / 1e6;
}

/**
 * The trajectory's behaviour log-probs with `added` appended for its new tokens, or undefined
 * when they were not recorded for every earlier token (an artifact from before they were, or a
 * trajectory assembled by hand): a partial list would misalign log-probs with tokens.
 */
function behaviourAfter(trajectory: Trajectory, added: readonly number[]): number[] | undefined {
  const recorded = trajectory.behaviourLogprobs;
  if (!recorded || recorded.length !== trajectory.responseTokenIds.length) return undefined;
  return [...recorded, ...added];
}

function withBehaviour(trajectory: Trajectory, behaviourLogprobs: number[] | undefined): Trajectory {
  if (behaviourLogprobs) return { ...trajectory, behaviourLogprobs };
  const copy = { ...trajectory };
  delete copy.behaviourLogprobs;
  return copy;
}

/** What one generate turn records on each trajectory it generated. */
export interface TurnRecord {
  /** The policy that generated the turn. */
  policyVersion: number;
  /** When the trajectory finished generating, in whole ms after the turn's first request. */
  finishMs: number;
}

/**
 * Records turn `turn` on a trajectory that generated in it. Each record (turnPolicyVersions,
 * turnFinishMs) is kept only while every earlier turn is in it: index = turn, or absent.
 */
export function recordTurn(trajectory: Trajectory, turn: number, record: TurnRecord): Trajectory {
  const next = { ...trajectory };
  const versions = trajectory.turnPolicyVersions;
  if (versions?.length === turn) next.turnPolicyVersions = [...versions, record.policyVersion];
  else delete next.turnPolicyVersions;
  const finishes = trajectory.turnFinishMs;
  if (finishes?.length === turn) next.turnFinishMs = [...finishes, record.finishMs];
  else delete next.turnFinishMs;
  return next;
}

/** Seed of one trajectory: from the shard seed, the prompt's row and the sample index. */
export function trajectorySeed(shardSeed: number, rowIndex: number, sampleIndex: number): number {
  return deriveSeed(shardSeed, rowIndex, sampleIndex);
}

/** A fresh trajectory for a prompt, with the prompt's token ids. */
export function startTrajectory(fields: {
  step: number;
  rowIndex: number;
  sampleIndex: number;
  promptId: string;
  problem: string;
  referenceAnswer: string;
  level: string;
  seed: number;
  promptTokenIds: number[];
}): Trajectory {
  return {
    id: `s${fields.step}-p${fields.rowIndex}-n${fields.sampleIndex}`,
    promptId: fields.promptId,
    sampleIndex: fields.sampleIndex,
    problem: fields.problem,
    referenceAnswer: fields.referenceAnswer,
    level: fields.level,
    seed: fields.seed,
    promptTokenIds: fields.promptTokenIds,
    responseTokenIds: [],
    actionMask: [],
    behaviourLogprobs: [],
    turnPolicyVersions: [],
    turnFinishMs: [],
    responseText: '',
    phase: 'active',
    stopReason: null,
    toolCalls: 0,
    executions: [],
    pendingCode: null,
  };
}
