/**
 * The simulated engine's answer key: from a request's context to the dataset row it answers.
 * The context starts with a prompt rendered by the tool protocol (renderPrompt); its problem text
 * is looked up in the configured datasets, whose reference answers the engine boxes (or shifts,
 * when its plan says to answer wrongly).
 */
import { resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { renderPrompt, type PromptTemplate } from '../../common/toolProtocol';
import { loadTaskRows } from '../dataset';

/** Where generation starts in every template: the prompt ends here. */
export const PROMPT_END = '\nAssistant: <think>';

const TEMPLATES: readonly PromptTemplate[] = ['tool', 'noTool'];
const MARK = '\u0000';

/** The text a template puts before and after the problem. */
const frames = TEMPLATES.map((template) => {
  const [head, tail] = renderPrompt(template, MARK).split(MARK) as [string, string];
  return { head, tail };
});

/** The problem inside a rendered prompt, or null when the text is no template's prompt. */
export function problemOf(promptText: string): string | null {
  for (const { head, tail } of frames) {
    if (
      promptText.startsWith(head) &&
      promptText.endsWith(tail) &&
      promptText.length >= head.length + tail.length
    )
      return promptText.slice(head.length, promptText.length - tail.length);
  }
  return null;
}

export class AnswerKey {
  private constructor(
    private readonly answers: ReadonlyMap<string, string>,
    private readonly sources: readonly string[],
  ) {}

  /** Loads the datasets (each parsed once per process); the first row with a problem wins. */
  static async load(paths: readonly string[]): Promise<AnswerKey> {
    const answers = new Map<string, string>();
    const sources = paths.map((path) => resolve(path));
    for (const path of sources) {
      for (const row of await loadTaskRows(path))
        if (!answers.has(row.problem)) answers.set(row.problem, row.answer);
    }
    return new AnswerKey(answers, sources);
  }

  /** The reference answer of a rendered prompt; a prompt the key lacks is a permanent error. */
  answerFor(promptText: string): string {
    const problem = problemOf(promptText);
    if (problem === null) {
      throw ApplicationFailure.nonRetryable(
        `simulated engine: the context does not start with a rendered prompt ("${promptText.slice(0, 80)}...")`,
        'SimulatedEngineInput',
      );
    }
    const answer = this.answers.get(problem);
    if (answer === undefined) {
      throw ApplicationFailure.nonRetryable(
        `simulated engine: problem "${problem.slice(0, 120)}" is in none of engine.answerKey (${this.sources.join(', ')}); add its dataset there`,
        'SimulatedEngineInput',
      );
    }
    return answer;
  }
}

const keys = new Map<string, Promise<AnswerKey>>();

/** The answer key of these datasets, built once per process. */
export function answerKey(paths: readonly string[]): Promise<AnswerKey> {
  const id = paths.map((path) => resolve(path)).join('\n');
  let key = keys.get(id);
  if (!key) {
    key = AnswerKey.load(paths);
    keys.set(id, key);
    key.catch(() => keys.delete(id));
  }
  return key;
}
