/**
 * The task suite's difficulty levels. L1–L2 a tiny model can answer in its head; L3–L5 it
 * cannot, but a one-to-three line Python snippet can (products, remainders, powers mod m,
 * sums of sequences, linear equations with awkward coefficients). Each problem also carries
 * a `key` (its kind and numbers) so splits can be made disjoint by content, not by wording.
 */
import { formatFraction, formatInteger, powMod } from './answers';
import type { Rng } from './random';

export interface Problem {
  /** Kind and operands, e.g. "product:347:829": two problems with equal keys are the same task. */
  key: string;
  problem: string;
  answer: string;
}

type ProblemMaker = (rng: Rng) => Problem;

function sum(a: number, b: number): Problem {
  return { key: `sum:${a}:${b}`, problem: `What is ${a} + ${b}?`, answer: formatInteger(BigInt(a + b)) };
}

function difference(a: number, b: number): Problem {
  return {
    key: `difference:${a}:${b}`,
    problem: `What is ${a} - ${b}?`,
    answer: formatInteger(BigInt(a - b)),
  };
}

function product(a: number, b: number): Problem {
  return {
    key: `product:${a}:${b}`,
    problem: `What is ${a} * ${b}?`,
    answer: formatInteger(BigInt(a) * BigInt(b)),
  };
}

function remainder(a: number, m: number): Problem {
  return {
    key: `remainder:${a}:${m}`,
    problem: `What is the remainder when ${a} is divided by ${m}?`,
    answer: formatInteger(BigInt(a % m)),
  };
}

function powerRemainder(base: number, exponent: number, m: number): Problem {
  return {
    key: `power-remainder:${base}:${exponent}:${m}`,
    problem: `What is the remainder when ${base}^${exponent} is divided by ${m}?`,
    answer: formatInteger(powMod(BigInt(base), BigInt(exponent), BigInt(m))),
  };
}

function rangeSum(from: number, to: number): Problem {
  const count = BigInt(to - from + 1);
  return {
    key: `range-sum:${from}:${to}`,
    problem: `What is the sum of all integers from ${from} to ${to}?`,
    answer: formatInteger(((BigInt(from) + BigInt(to)) * count) / 2n),
  };
}

function squareSum(n: number): Problem {
  const big = BigInt(n);
  return {
    key: `square-sum:${n}`,
    problem: `What is the sum of the squares of the integers from 1 to ${n}?`,
    answer: formatInteger((big * (big + 1n) * (2n * big + 1n)) / 6n),
  };
}

/** a x + b = c, with a not dividing c - b, so the answer is a proper fraction. */
function linearEquation(rng: Rng): Problem {
  for (;;) {
    const a = rng.int(3, 29);
    const b = rng.int(-99, 99);
    const c = rng.int(-999, 999);
    if (b === 0 || (c - b) % a === 0) continue;
    const left = b < 0 ? `${a}x - ${-b}` : `${a}x + ${b}`;
    return {
      key: `linear:${a}:${b}:${c}`,
      problem: `Solve for x: ${left} = ${c}.`,
      answer: formatFraction(BigInt(c - b), BigInt(a)),
    };
  }
}

export const LEVELS: Record<string, readonly ProblemMaker[]> = {
  // One one-digit operand: single-token arithmetic a tiny model can memorise.
  L1: [(rng) => sum(rng.int(1, 9), rng.int(1, 99)), (rng) => sum(rng.int(10, 99), rng.int(1, 9))],
  // Two two-digit operands: needs a carry, still within reach of a small model.
  L2: [
    (rng) => sum(rng.int(10, 99), rng.int(10, 99)),
    (rng) => {
      const a = rng.int(20, 99);
      return difference(a, rng.int(10, a - 1));
    },
  ],
  L3: [
    (rng) => product(rng.int(11, 99), rng.int(11, 99)),
    (rng) => remainder(rng.int(1000, 9999), rng.int(11, 97)),
  ],
  L4: [
    (rng) => product(rng.int(101, 999), rng.int(101, 999)),
    (rng) => {
      const from = rng.int(2, 200);
      return rangeSum(from, rng.int(from + 50, from + 900));
    },
  ],
  L5: [
    (rng) => powerRemainder(rng.int(3, 99), rng.int(11, 99), rng.int(11, 199)),
    (rng) => squareSum(rng.int(20, 999)),
    linearEquation,
  ],
};

export const LEVEL_NAMES = Object.keys(LEVELS);

/** The levels a tiny model cannot do in its head: where the tool should make the difference. */
export const HARD_LEVELS: readonly string[] = ['L3', 'L4', 'L5'];

export function makeProblem(level: string, rng: Rng): Problem {
  const makers = LEVELS[level];
  if (!makers) throw new Error(`unknown level "${level}" (known: ${LEVEL_NAMES.join(', ')})`);
  return rng.pick(makers)(rng);
}
