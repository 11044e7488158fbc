/**
 * The `simulated` engine (engine.kind: simulated): paper-scale rollouts without a GPU, for the
 * dry run (bench/paperScale.ts). It speaks the tool protocol as a real engine does, so the rest
 * of the data path is real: it returns token ids of the policy's own tokenizer, stops right after
 * "```python" (the activity then asks for the code segment, which stops at "```"), writes Python
 * that the sandbox really runs, and ends with "</think> <answer> \boxed{..} </answer>", right at
 * `correctRate` (the dataset row's reference answer, found by the prompt's problem text in
 * `answerKey`). It paces itself at `tokensPerSecond` per replica (ReplicaClock), so a generate
 * turn lasts as long as it would on an inference server of that speed.
 *
 * Stateless and deterministic: every request is answered from its context and seed alone. A
 * response's plan (length, code blocks, right or wrong) derives from its identity, a hash of the
 * prompt and the response's first tokens, which the first segment writes from the request seed
 * (itself derived from the trajectory's seed); later segments find the same identity in their
 * context, and count the code fences already written to know where they are.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { SimulatedEngineConfig } from '../../common/config';
import { deriveSeed, mulberry32 } from '../../common/schedule';
import { ANSWER_CLOSE, CODE_CLOSE, CODE_OPEN } from '../../common/toolProtocol';
import type { Completion, CompletionRequest, GenerationEngine } from './engine';
import { loadModelTokenizer, type ModelTokenizer } from './modelFolder';
import { answerKey, PROMPT_END } from './simulatedEngineAnswers';
import { replicaClock } from './simulatedEngineClock';
import {
  answerText,
  codeSnippet,
  MIN_SEGMENT_TOKENS,
  planResponse,
  REASONING_SENTENCES,
  wrongAnswer,
  type ResponsePlan,
} from './simulatedEngineScript';

/** Response tokens hashed into its identity (with the prompt's). */
export const IDENTITY_TOKENS = 24;
/** Context tokens decoded to find where the prompt ends (longer prompts decode the whole context). */
const PROMPT_WINDOW = 1024;
const PROMPT_CACHE_LIMIT = 4096;
const VOCABULARY_CACHE_LIMIT = 4;

/** What the engine derives once per tokenizer: pre-encoded prose and fences. */
interface Vocabulary {
  tokenizer: ModelTokenizer;
  sentences: number[][];
  /** "\n\n```python": ends a reasoning segment that opens a block. */
  codeOpen: number[];
  /** Prompt text -> its token ids (prompts repeat: samplesPerPrompt trajectories each). */
  prompts: Map<string, number[]>;
}

const vocabularies = new Map<string, Promise<Vocabulary>>();

async function buildVocabulary(dir: string): Promise<Vocabulary> {
  const tokenizer = await loadModelTokenizer(dir);
  return {
    tokenizer,
    sentences: REASONING_SENTENCES.map((s) => tokenizer.encode(s)),
    codeOpen: tokenizer.encode(`\n\n${CODE_OPEN}`),
    prompts: new Map(),
  };
}

function vocabularyOf(dir: string): Promise<Vocabulary> {
  let vocabulary = vocabularies.get(dir);
  if (!vocabulary) {
    // Each policy version has its own folder (the same tokenizer): keep the last few only.
    if (vocabularies.size >= VOCABULARY_CACHE_LIMIT) vocabularies.delete(vocabularies.keys().next().value!);
    vocabulary = buildVocabulary(dir);
    vocabularies.set(dir, vocabulary);
    vocabulary.catch(() => vocabularies.delete(dir));
  }
  return vocabulary;
}

function startsWithAt(ids: readonly number[], part: readonly number[], at: number): boolean {
  if (at < 0 || at + part.length > ids.length) return false;
  for (let i = 0; i < part.length; i++) if (ids[at + i] !== part[i]) return false;
  return true;
}

/** Occurrences of `part` in ids[from..]. */
function countOccurrences(ids: readonly number[], part: readonly number[], from: number): number {
  let count = 0;
  for (let i = from; i + part.length <= ids.length; i++) {
    if (ids[i] === part[0] && startsWithAt(ids, part, i)) {
      count += 1;
      i += part.length - 1;
    }
  }
  return count;
}

function simulatedInputError(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`simulated engine: ${message}`, 'SimulatedEngineInput');
}

/** The prompt at the start of a context: its text and its length in tokens. */
function promptOf(vocabulary: Vocabulary, context: readonly number[]): { text: string; length: number } {
  const { tokenizer } = vocabulary;
  let text = tokenizer.decode(context.slice(0, PROMPT_WINDOW));
  let end = text.indexOf(PROMPT_END);
  if (end < 0 && context.length > PROMPT_WINDOW) {
    text = tokenizer.decode(context);
    end = text.indexOf(PROMPT_END);
  }
  if (end < 0)
    throw simulatedInputError(`no "${PROMPT_END.trim()}" in the context: it is not a rendered prompt`);
  const promptText = text.slice(0, end + PROMPT_END.length);
  let ids = vocabulary.prompts.get(promptText);
  if (!ids) {
    ids = tokenizer.encode(promptText);
    if (vocabulary.prompts.size >= PROMPT_CACHE_LIMIT) vocabulary.prompts.clear();
    vocabulary.prompts.set(promptText, ids);
  }
  if (!startsWithAt(context, ids, 0)) {
    throw simulatedInputError("the context's prompt ids are not this tokenizer's encoding of the prompt");
  }
  return { text: promptText, length: ids.length };
}

/** `count` tokens of prose chosen by `seed`, after `lead` (which counts towards them). */
function reasoning(
  vocabulary: Vocabulary,
  seed: number,
  count: number,
  lead: readonly number[] = [],
): number[] {
  const random = mulberry32(seed);
  const ids = [...lead];
  while (ids.length < count) {
    const sentence = vocabulary.sentences[Math.floor(random() * vocabulary.sentences.length)]!;
    for (const id of sentence) ids.push(id);
  }
  return ids.slice(0, Math.max(count, lead.length));
}

/** The first words of a response: numbers from the seed make every response's identity its own. */
function opening(seed: number): string {
  const random = mulberry32(deriveSeed(seed, 0x09e2));
  const n = (): number => Math.floor(random() * 90_000) + 10_000;
  return ` Noting ${n()}, ${n()}, ${n()} and ${n()} as landmarks, let me start from what is given.`;
}

interface Segment {
  ids: number[];
  /** The stop string the segment ends with; null when it ends with an end-of-sequence token. */
  stop: string | null;
}

export class SimulatedEngine implements GenerationEngine {
  readonly model: string;
  private generated = 0;

  constructor(
    private readonly config: SimulatedEngineConfig,
    private readonly tokenizerDir: string,
  ) {
    this.model = `simulated (${tokenizerDir})`;
  }

  async complete(request: CompletionRequest, signal?: AbortSignal): Promise<Completion> {
    signal?.throwIfAborted();
    const vocabulary = await vocabularyOf(this.tokenizerDir);
    const key = await answerKey(this.config.answerKey);
    const segment = this.segment(vocabulary, request, (promptText) => key.answerFor(promptText));
    let { ids } = segment;
    let finishReason: Completion['finishReason'] = 'stop';
    let stopString = segment.stop;
    if (ids.length > request.maxTokens) {
      ids = ids.slice(0, Math.max(0, request.maxTokens));
      finishReason = 'length';
      stopString = null;
    }
    await replicaClock(this.config.tokensPerSecond).serve(ids.length, signal);
    this.generated += ids.length;
    return { tokenIds: ids, logprobs: behaviourLogprobs(request, ids.length), finishReason, stopString };
  }

  /** The next segment of the response in `request.promptTokenIds`, before the token cap. */
  private segment(
    vocabulary: Vocabulary,
    request: CompletionRequest,
    referenceAnswer: (promptText: string) => string,
  ): Segment {
    const { tokenizer, codeOpen } = vocabulary;
    const context = request.promptTokenIds;
    const prompt = promptOf(vocabulary, context);
    const responseStart = prompt.length;
    const responseLength = context.length - responseStart;
    const blocksOpened = countOccurrences(context, codeOpen, responseStart);
    const promptHash = deriveSeed(...context.slice(0, responseStart));
    const lead = responseLength === 0 ? tokenizer.encode(opening(request.seed)) : [];
    // The first segment's tokens do not depend on its length beyond its first IDENTITY_TOKENS
    // (MIN_SEGMENT_TOKENS is more), so the plan can be drawn from them before the length is known.
    const head =
      responseLength === 0
        ? reasoning(vocabulary, request.seed, IDENTITY_TOKENS, lead).slice(0, IDENTITY_TOKENS)
        : context.slice(responseStart, responseStart + IDENTITY_TOKENS);
    const plan: ResponsePlan = planResponse(deriveSeed(promptHash, ...head), this.config);

    if (
      responseLength >= codeOpen.length &&
      startsWithAt(context, codeOpen, context.length - codeOpen.length)
    ) {
      // Inside the block the last segment opened: its code, then the closing fence.
      const block = Math.min(blocksOpened, plan.blockSeeds.length) - 1;
      const code = codeSnippet(plan.blockSeeds[block]!, plan.blockOutcomes[block]!);
      return { ids: tokenizer.encode(`\n${code}\n${CODE_CLOSE}`), stop: CODE_CLOSE };
    }

    const mayOpenBlock = request.stop.includes(CODE_OPEN);
    if (mayOpenBlock && blocksOpened < plan.blocksWanted) {
      const length = plan.segmentTokens[blocksOpened] ?? MIN_SEGMENT_TOKENS;
      return { ids: [...reasoning(vocabulary, request.seed, length, lead), ...codeOpen], stop: CODE_OPEN };
    }

    const reference = referenceAnswer(prompt.text);
    const answer = plan.answerIsRight ? reference : wrongAnswer(reference, request.seed);
    const closing = tokenizer.encode(answerText(answer));
    const length = Math.max(MIN_SEGMENT_TOKENS, plan.targetTokens - responseLength - closing.length);
    const ids = [...reasoning(vocabulary, request.seed, length, lead), ...closing];
    if (request.stop.includes(ANSWER_CLOSE)) return { ids, stop: ANSWER_CLOSE };
    // Without "</answer>" among the stops the response ends as a base model's does: with EOS.
    const eos = tokenizer.eosTokenIds[0];
    if (eos === undefined) throw simulatedInputError('the tokenizer names no end-of-sequence token');
    return { ids: [...ids, eos], stop: null };
  }

  tokensGenerated(): number {
    return this.generated;
  }

  async close(): Promise<void> {
    // Nothing to release: the replica clock and the caches serve the process's next engine.
  }
}

/**
 * Behaviour log-probs for the simulated tokens: the trainer requires one per generated token.
 * They are drawn from the request's seed and where the segment starts, so the same request
 * gets the same values (in [-2, 0): plausible for sampled tokens, never -Infinity).
 */
function behaviourLogprobs(request: CompletionRequest, count: number): number[] {
  const random = mulberry32(deriveSeed(request.seed, request.promptTokenIds.length, 0x1a9b));
  return Array.from({ length: count }, () => -2 * random());
}
