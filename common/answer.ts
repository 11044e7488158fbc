/**
 * Answer extraction and the ZeroTIR format check. Pure: safe to import from workflows.
 *
 * The response text starts right after "Assistant: <think>", so a well-formed response reads
 * "... </think> <answer> ... \boxed{42} ... </answer>". Generation stops at "</answer>"; whether
 * the engine keeps the stop string in the text or not, a response ending exactly there is valid.
 * The no-tool (ZeroRL) template uses the same check.
 */
import type { StopReason } from './trajectory';

/**
 * 'strict': the paper's check (exactly one </think>, one <answer> with a \boxed{} inside,
 * finished by a stop). 'answerTag': the same without counting </think> (the tiny base model,
 * trained on a corpus whose code-using responses end their reasoning without it, needs this;
 * see configs/zerotir-tiny.yaml). 'loose': the last \boxed{} anywhere in the response, still
 * not truncated.
 */
export const formatModes = ['strict', 'answerTag', 'loose'] as const;
export type FormatMode = (typeof formatModes)[number];

export type FormatFailure =
  | 'truncated' // hit max response tokens (stopReason 'length')
  | 'unfinished' // no final stop yet (stopReason null or 'code')
  | 'thinkNotClosed' // no "</think>": the reasoning never ended
  | 'multipleThinkCloses' // more than one "</think>"
  | 'noAnswerTag'
  | 'multipleAnswerTags'
  | 'unclosedAnswerTag' // "<answer>" without "</answer>", and generation did not stop at "</answer>"
  | 'noBoxed'
  | 'unbalancedBraces' // "\boxed{" whose brace never closes
  | 'emptyBoxed';

export type AnswerCheck =
  { ok: true; answer: string } | { ok: false; failure: FormatFailure; message: string };

const THINK_CLOSE = '</think>';
const ANSWER_OPEN = '<answer>';
const ANSWER_CLOSE = '</answer>';
const BOX_COMMANDS = ['\\boxed', '\\fbox'] as const;

/** One \boxed{...} or \fbox{...} occurrence; `content` is null when its braces never close. */
export interface BoxedSpan {
  start: number;
  end: number;
  content: string | null;
}

/** Every \boxed{…} / \fbox{…} in `text`, in order, brace-matched (nested braces allowed;
 *  escaped braces \{ \} do not count). A box inside a box is part of the outer content. */
export function findBoxed(text: string): BoxedSpan[] {
  const spans: BoxedSpan[] = [];
  let from = 0;
  for (;;) {
    const next = nextBoxCommand(text, from);
    if (next === null) return spans;
    let open = next.afterCommand;
    while (open < text.length && /\s/.test(text[open]!)) open += 1;
    if (text[open] !== '{') {
      // "\boxed 5" (TeX's single-token argument) is rare in model output; skip the command.
      from = next.afterCommand;
      continue;
    }
    const close = matchingBrace(text, open);
    if (close === -1) {
      spans.push({ start: next.start, end: text.length, content: null });
      return spans;
    }
    spans.push({ start: next.start, end: close + 1, content: text.slice(open + 1, close).trim() });
    from = close + 1;
  }
}

function nextBoxCommand(text: string, from: number): { start: number; afterCommand: number } | null {
  let best: { start: number; afterCommand: number } | null = null;
  for (const command of BOX_COMMANDS) {
    let at = text.indexOf(command, from);
    // "\boxedfoo" is another command, not \boxed.
    while (at !== -1 && /[A-Za-z]/.test(text[at + command.length] ?? '')) at = text.indexOf(command, at + 1);
    if (at !== -1 && (best === null || at < best.start))
      best = { start: at, afterCommand: at + command.length };
  }
  return best;
}

/** Index of the brace closing the one at `open`, or -1. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') {
      i += 1; // skip the escaped character: \{ and \} are literal braces in LaTeX
      continue;
    }
    if (ch === '{') depth += 1;
    else if (ch === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Content of the last complete \boxed{} in `text`, or null. */
export function lastBoxed(text: string): string | null {
  const complete = findBoxed(text).filter((span) => span.content !== null);
  return complete.at(-1)?.content ?? null;
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

function fail(failure: FormatFailure, message: string): AnswerCheck {
  return { ok: false, failure, message };
}

/**
 * The format check and answer extraction of one finished response. `stopReason` is the
 * trajectory's final stop: a truncated response ('length') never counts, however it looks.
 */
export function checkAnswer(
  responseText: string,
  stopReason: StopReason | null,
  mode: FormatMode,
): AnswerCheck {
  if (stopReason === 'length') return fail('truncated', 'response hit the token limit');
  if (stopReason === null || stopReason === 'code') {
    return fail('unfinished', `response did not finish (stop reason ${stopReason ?? 'none'})`);
  }
  if (mode === 'loose') return boxedAnswer(responseText);

  // The paper's check counts each of </think>, <answer> and </answer> (zero_template_format_score:
  // `response.count(tag) != 1` fails). The response starts after "Assistant: <think>", so the
  // model writes exactly one </think>.
  if (mode === 'strict') {
    const thinkCloses = countOccurrences(responseText, THINK_CLOSE);
    if (thinkCloses === 0) return fail('thinkNotClosed', 'no </think>');
    if (thinkCloses > 1) return fail('multipleThinkCloses', `${thinkCloses} </think> tags`);
  }
  const opens = countOccurrences(responseText, ANSWER_OPEN);
  if (opens === 0) return fail('noAnswerTag', 'no <answer> tag');
  const closes = countOccurrences(responseText, ANSWER_CLOSE);
  if (opens > 1 || closes > 1)
    return fail('multipleAnswerTags', `${opens} <answer> and ${closes} </answer> tags`);
  const start = responseText.indexOf(ANSWER_OPEN) + ANSWER_OPEN.length;
  let end = responseText.indexOf(ANSWER_CLOSE, start);
  if (end === -1) {
    if (closes === 1) return fail('unclosedAnswerTag', '</answer> comes before <answer>');
    // The engine may drop the "</answer>" stop string from the text: then the response ends there.
    if (stopReason !== 'answer') return fail('unclosedAnswerTag', '<answer> is never closed');
    end = responseText.length;
  }
  return boxedAnswer(responseText.slice(start, end));
}

function boxedAnswer(text: string): AnswerCheck {
  const spans = findBoxed(text);
  if (spans.length === 0) return fail('noBoxed', 'no \\boxed{} in the answer');
  const last = spans.at(-1)!;
  if (last.content === null) return fail('unbalancedBraces', '\\boxed{ is never closed');
  if (last.content === '') return fail('emptyBoxed', '\\boxed{} is empty');
  return { ok: true, answer: last.content };
}
