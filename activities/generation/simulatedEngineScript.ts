/**
 * What the simulated engine writes: a plan per response (its length, how many ```python blocks it
 * wants, what each block does, whether its answer is right), reasoning prose, Python snippets that
 * make the sandbox do real work, and the answer in the template's format. Pure and seeded: the same
 * identity gives the same plan, the same seed the same prose and code.
 */
import { mulberry32 } from '../../common/schedule';
import type { SimulatedEngineConfig } from '../../common/config';

/** Most code blocks a plan asks for; the run's tool budget stops it earlier. */
const MAX_PLANNED_BLOCKS = 20;
/** The shortest reasoning segment, in tokens: the first one carries the response's identity. */
export const MIN_SEGMENT_TOKENS = 32;

/**
 * Reasoning prose: ASCII only, no backticks, colons or angle brackets, so no concatenation of
 * sentences can form a stop string ("```", "User:", "</answer>") or a second answer tag.
 */
export const REASONING_SENTENCES: readonly string[] = [
  ' Let us restate the problem in our own words before computing anything.',
  ' The quantity we want is determined by the numbers given in the statement.',
  ' First we check whether the expression can be simplified by collecting like terms.',
  ' Multiplying both sides by the common denominator removes the fractions.',
  ' A quick estimate tells us roughly how large the answer should be.',
  ' We should double check the arithmetic, since a sign error is easy to make here.',
  ' Factoring the polynomial shows two roots, and only one of them is positive.',
  ' The sum telescopes, so most of the middle terms cancel in pairs.',
  ' By symmetry the two cases contribute equally, which halves the work.',
  ' Substituting the value back into the original equation confirms it is consistent.',
  ' The remainder repeats with a short period, so we only need the first few terms.',
  ' Counting the arrangements directly is tedious, so a formula is better.',
  ' The greatest common divisor divides both numbers, which bounds the possibilities.',
  ' This looks like a geometric series with a ratio smaller than one.',
  ' Expanding the square gives three terms, and the cross term is the interesting one.',
  ' We can treat the two conditions separately and then combine them.',
  ' The derivative is zero at the critical point, which gives the extreme value.',
  ' Hmm, that does not match the earlier estimate, so let us look again.',
  ' The area splits into a rectangle and two right triangles.',
  ' Since the numbers are large, computing by hand would be slow and error prone.',
  ' Each step reduces the exponent by one, so the recursion ends quickly.',
  ' The digits of the product follow from the last two digits of each factor.',
  ' Modulo nine, the number is congruent to the sum of its digits.',
  ' The probability is the number of favourable outcomes over all outcomes.',
  ' Both fractions have the same denominator after scaling the second one.',
  ' So the linear term vanishes and the constant term is what remains.',
  ' We keep exact fractions rather than decimals to avoid rounding.',
  ' The inequality holds for every positive value, with equality at one point.',
  ' Working backwards from the final condition narrows the choices quickly.',
  ' The pattern in the first few cases suggests a closed form.',
  ' Let me verify that closed form on one more case before trusting it.',
  ' The mean of the list is the total divided by the number of entries.',
  ' Writing the number in base two makes the structure clearer.',
  ' The two lines meet where their equations agree, which is a single point.',
  ' Rounding only at the very end keeps the result exact.',
  ' That settles the first part, and the second part follows the same way.',
  ' Wait, the problem asks for the value and not for the number of solutions.',
  ' The constraint rules out the negative root, so one candidate is left.',
  ' A table of small values makes the recurrence easy to follow.',
  ' Everything is consistent, so the computation can be trusted.',
  '\n\nNow let us organise the computation step by step.',
  '\n\nSo far the reasoning is sound, and the remaining work is arithmetic.',
];

/** One ```python block the plan asks for: what the sandbox will make of it. */
export type SnippetOutcome = 'ok' | 'error' | 'timeout';

export interface ResponsePlan {
  /** The response's total length in tokens (observations included), before the token cap. */
  targetTokens: number;
  /** Code blocks this response would open, budget permitting. */
  blocksWanted: number;
  /** Reasoning tokens written before each block. */
  segmentTokens: number[];
  /** Seed of each block's code. */
  blockSeeds: number[];
  blockOutcomes: SnippetOutcome[];
  answerIsRight: boolean;
}

function uniformInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** The plan of the response whose identity (a hash of its first tokens) is `identity`. */
export function planResponse(identity: number, config: SimulatedEngineConfig): ResponsePlan {
  const random = mulberry32(identity);
  const { min, max } = config.responseTokens;
  const targetTokens = uniformInt(
    random,
    Math.max(min, MIN_SEGMENT_TOKENS),
    Math.max(max, MIN_SEGMENT_TOKENS),
  );
  let blocksWanted = 0;
  while (blocksWanted < MAX_PLANNED_BLOCKS && random() < config.codeRate) blocksWanted += 1;
  const segmentTokens: number[] = [];
  const blockSeeds: number[] = [];
  const blockOutcomes: SnippetOutcome[] = [];
  for (let i = 0; i < MAX_PLANNED_BLOCKS; i++) {
    // Each block comes after 10-35% of the response's length of reasoning (as a share of what the
    // first two blocks may take: the final segment fills the rest up to targetTokens).
    segmentTokens.push(Math.max(MIN_SEGMENT_TOKENS, Math.round(targetTokens * (0.1 + 0.25 * random()))));
    blockSeeds.push(Math.floor(random() * 2 ** 32));
    const roll = random();
    blockOutcomes.push(
      roll < config.codeTimeoutRate
        ? 'timeout'
        : roll < config.codeTimeoutRate + config.codeErrorRate
          ? 'error'
          : 'ok',
    );
  }
  return {
    targetTokens,
    blocksWanted,
    segmentTokens,
    blockSeeds,
    blockOutcomes,
    answerIsRight: random() < config.correctRate,
  };
}

/**
 * Python for one block. `ok` snippets do real work (arithmetic, fractions, sympy, loops, numpy,
 * number theory; a few print too much and come back as "output too long"); `error` ones raise;
 * `timeout` ones loop until the sandbox's wall-clock limit.
 */
export function codeSnippet(seed: number, outcome: SnippetOutcome): string {
  const random = mulberry32(seed);
  const int = (lo: number, hi: number): number => uniformInt(random, lo, hi);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const a = int(2, 97);
  const b = int(2, 97);
  const c = int(1, 500);
  if (outcome === 'timeout') {
    return pick([
      'while True:\n    pass',
      `n = ${a}\nwhile n > 0:\n    n = n + 1`,
      `count = 0\nk = ${a}\nwhile k != 1:\n    k = k + 2\n    count += 1\nprint(count)`,
    ]);
  }
  if (outcome === 'error') {
    return pick([
      `x = ${a}\nprint(x / (x - ${a}))`,
      `values = [${a}, ${b}, ${c}]\nprint(valeus[0] * 2)`,
      `print((${a} + ${b}) * (${c}`,
      `items = list(range(${a}))\nprint(items[${a + b}])`,
      `print(int("${a}.${b}") + 1)`,
      `import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 + ${a}, y))`,
    ]);
  }
  return pick([
    `a = ${a}\nb = ${b}\nprint(a * b + ${c})`,
    `print(${a}**3 - ${b}**2 + ${c})`,
    `from fractions import Fraction\nprint(Fraction(${a}, ${b}) + Fraction(${c}, ${a + b}))`,
    `import math\nprint(math.gcd(${a * c}, ${b * c}), math.lcm(${a}, ${b}))`,
    `from math import comb\nprint(comb(${int(10, 60)}, ${int(2, 9)}))`,
    `import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(sp.Eq(${a}*x + ${b}, ${c}), x))`,
    `import sympy as sp\nx = sp.symbols('x')\nprint(sp.factor(x**2 - ${a * a}))`,
    `import sympy as sp\nx = sp.symbols('x')\nprint(sp.expand((x + ${a})**${int(2, 6)}))`,
    `import sympy as sp\nx = sp.symbols('x')\nprint(sp.simplify((x**2 - ${b * b})/(x - ${b})))`,
    `import sympy as sp\nx = sp.symbols('x')\nprint(sp.integrate(x**${int(1, 4)} * sp.exp(x), x))`,
    `import sympy as sp\nprint(sp.factorint(${a * b * c}))`,
    `import sympy as sp\nprint(sp.nsimplify(${a}/${b} + ${c}/${a + b}))`,
    `total = 0\nfor k in range(1, ${int(1000, 100000)}):\n    total += k * k % ${a}\nprint(total)`,
    `primes = [p for p in range(2, ${int(200, 20000)}) if all(p % d for d in range(2, int(p**0.5) + 1))]\nprint(len(primes), primes[-3:])`,
    `fib = [0, 1]\nfor _ in range(${int(20, 300)}):\n    fib.append(fib[-1] + fib[-2])\nprint(fib[-1] % ${c + 1})`,
    `import numpy as np\nm = np.array([[${a}, ${b}], [${c}, ${a + 1}]])\nprint(round(float(np.linalg.det(m)), 6))`,
    `import numpy as np\nprint(np.arange(1, ${int(5, 50)}).sum(), np.arange(1, ${int(5, 50)}).prod() % ${c + 1})`,
    `digits = str(${a}**${int(20, 200)})\nprint(len(digits), sum(int(d) for d in digits))`,
    `print(list(range(${int(300, 900)})))`,
  ]);
}

/** A boxed answer that math-verify cannot take for the reference. */
export function wrongAnswer(reference: string, seed: number): string {
  const shift = 1 + (seed % 9);
  const trimmed = reference.trim();
  if (/^-?\d+$/.test(trimmed)) return String(BigInt(trimmed) + BigInt(shift));
  return `${trimmed} + ${shift}`;
}

/** The response's last words: closes the reasoning and answers in the template's format. */
export function answerText(answer: string): string {
  return ` So the final answer is ${answer}.\n</think>\n<answer> \\boxed{${answer}} </answer>`;
}
