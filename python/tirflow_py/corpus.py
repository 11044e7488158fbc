"""Pretraining corpus for the tiny base model: three document kinds, never mixed.

- think: a problem in the ZeroTIR template with a text-only worked answer
  (`<think> ... </think> <answer> \\boxed{...} </answer>`): correct on easy levels, a plausible
  attempt on hard ones. Never code: tool use in the RL template must emerge from RL.
- snippet: a Python program followed by its real output, produced by running it here.
- tutorial: web-style prose (or a plain chat transcript) with a question in other words than the
  task rows, a code cell and its real output, or (text_tutorial_share) worked in text. Never in
  the <think> template; with chat_answer_tag a chat transcript ends with an answer tag.

The knobs (all off by default, which reproduces the stage 1-2 corpus) make the stage-3 corpus of
the shipped model; models/tiny-base/README.md says why each exists and what it measured.
No document uses a problem of the shipped task splits (compared by the problem's numbers).
Command line: python -m tirflow_py.corpus --docs 20 [--seed N] [--out FILE.jsonl] [knobs]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from .corpus_template import ZEROTIR_PREAMBLE, render_prompt

TASKS_DIR = Path(__file__).resolve().parents[2] / "data" / "tasks"
DOC_KINDS = ("think", "snippet", "tutorial")
# Share of each kind. Tutorials are what later makes a ```python block possible, but rare, under
# the RL template; the model card measures the resulting spontaneous code rate.
DEFAULT_MIX = {"think": 0.5, "snippet": 0.3, "tutorial": 0.2}
EASY_LEVELS = ("L1", "L2")


@dataclass(frozen=True)
class Document:
    kind: str
    text: str


@dataclass(frozen=True)
class Item:
    """One problem, in every surface form the corpus needs."""

    level: str
    task_text: str  # phrased as the task rows are (used for think documents)
    question: str  # phrased differently (used for tutorials)
    need: str  # "We need {need}." opens both think and tutorial reasoning
    code: str
    answer: Fraction
    worked: str = ""  # correct text steps for easy levels


def numbers_key(problem: str) -> tuple[int, ...]:
    """The problem's numbers, in order: how the corpus recognises a task-split problem."""
    return tuple(int(n) for n in re.findall(r"\d+", problem))


def load_excluded_keys(tasks_dir: Path = TASKS_DIR) -> set[tuple[int, ...]]:
    keys: set[tuple[int, ...]] = set()
    for path in sorted(tasks_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                keys.add(numbers_key(json.loads(line)["problem"]))
    return keys


def format_boxed(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


# --- problem kinds (mirror data/levels.ts; tutorials use the `question` wording) ---------------


def _sum(a: int, b: int, level: str) -> Item:
    if level == "L2":
        ta, tb, oa, ob = a // 10 * 10, b // 10 * 10, a % 10, b % 10
        worked = f"{ta} + {tb} = {ta + tb} and {oa} + {ob} = {oa + ob}, so {a} + {b} = {a + b}."
    else:
        worked = f"{a} + {b} = {a + b}."
    return Item(level, f"What is {a} + {b}?", f"Find the sum of {a} and {b}.", f"{a} + {b}",
                f"print({a} + {b})", Fraction(a + b), worked)


def _difference(a: int, b: int) -> Item:
    tb, ob = b // 10 * 10, b % 10
    worked = f"{a} - {tb} = {a - tb} and {a - tb} - {ob} = {a - b}, so {a} - {b} = {a - b}."
    return Item("L2", f"What is {a} - {b}?", f"Subtract {b} from {a}.", f"{a} - {b}",
                f"print({a} - {b})", Fraction(a - b), worked)


def _product(a: int, b: int, level: str) -> Item:
    return Item(level, f"What is {a} * {b}?", f"Find the product of {a} and {b}.", f"{a} * {b}",
                f"print({a} * {b})", Fraction(a * b))


def _remainder(a: int, m: int) -> Item:
    return Item("L3", f"What is the remainder when {a} is divided by {m}?",
                f"Find {a} modulo {m}.", f"{a} % {m}", f"print({a} % {m})", Fraction(a % m))


def _power_remainder(b: int, e: int, m: int) -> Item:
    return Item("L5", f"What is the remainder when {b}^{e} is divided by {m}?",
                f"Compute {b} to the power {e}, modulo {m}.", f"{b}**{e} % {m}",
                f"print(pow({b}, {e}, {m}))", Fraction(pow(b, e, m)))


def _range_sum(f: int, t: int) -> Item:
    return Item("L4", f"What is the sum of all integers from {f} to {t}?",
                f"Add up the whole numbers {f}, {f + 1}, ..., {t}.", f"the sum of the integers from {f} to {t}",
                f"print(sum(range({f}, {t} + 1)))", Fraction((f + t) * (t - f + 1) // 2))


def _square_sum(n: int) -> Item:
    return Item("L5", f"What is the sum of the squares of the integers from 1 to {n}?",
                f"Add up the squares 1^2 + 2^2 + ... + {n}^2.", f"the sum of i**2 for i from 1 to {n}",
                f"print(sum(i**2 for i in range(1, {n} + 1)))", Fraction(n * (n + 1) * (2 * n + 1) // 6))


def _linear(rng: random.Random) -> Item:
    while True:
        a, b, c = rng.randint(3, 29), rng.randint(-99, 99), rng.randint(-999, 999)
        if b != 0 and (c - b) % a != 0:
            break
    left = f"{a}x - {-b}" if b < 0 else f"{a}x + {b}"
    rhs = f"{c} - {b}" if b > 0 else f"{c} + {-b}"
    return Item("L5", f"Solve for x: {left} = {c}.", f"Find x if {left} = {c}.", f"x = ({rhs}) / {a}",
                f"from fractions import Fraction\nprint(Fraction({rhs}, {a}))", Fraction(c - b, a))


LEVEL_MAKERS: dict[str, list[Callable[[random.Random], Item]]] = {
    "L1": [lambda r: _sum(r.randint(1, 9), r.randint(1, 99), "L1"), lambda r: _sum(r.randint(10, 99), r.randint(1, 9), "L1")],
    "L2": [lambda r: _sum(r.randint(10, 99), r.randint(10, 99), "L2"),
           lambda r: (lambda a: _difference(a, r.randint(10, a - 1)))(r.randint(20, 99))],
    "L3": [lambda r: _product(r.randint(11, 99), r.randint(11, 99), "L3"), lambda r: _remainder(r.randint(1000, 9999), r.randint(11, 97))],
    "L4": [lambda r: _product(r.randint(101, 999), r.randint(101, 999), "L4"),
           lambda r: (lambda f: _range_sum(f, r.randint(f + 50, f + 900)))(r.randint(2, 200))],
    "L5": [lambda r: _power_remainder(r.randint(3, 99), r.randint(11, 99), r.randint(11, 199)),
           lambda r: _square_sum(r.randint(20, 999)), _linear],
}


def make_item(rng: random.Random, excluded: set[tuple[int, ...]]) -> Item:
    while True:
        level = rng.choice(sorted(LEVEL_MAKERS))
        item = rng.choice(LEVEL_MAKERS[level])(rng)
        if numbers_key(item.task_text) not in excluded:
            return item


# --- running code for real ---------------------------------------------------------------------


def run_snippet(code: str) -> str:
    """Executes the snippet and returns what it printed, or the error's last traceback line,
    as the sandbox reports it."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__"})  # noqa: S102 - our own code
    except Exception as err:  # noqa: BLE001 - errors are part of the corpus
        return f"{out.getvalue()}{type(err).__name__}: {err}".strip()
    return out.getvalue().rstrip("\n")


def _generic_snippet(rng: random.Random) -> str:
    a, b, c, k = rng.randint(2, 999), rng.randint(2, 99), rng.randint(1, 99), rng.randint(2, 12)
    templates = [
        f"x = {a}\ny = {b}\nprint(x * y + {c})",
        f"total = 0\nfor i in range(1, {b}):\n    total += i\nprint(total)",
        f"print([i * i for i in range({k})])",
        f"print({a} // {b}, {a} % {b})",
        f"print(divmod({a}, {b}))",
        f"print({a} / 0)",
        f"import math\nprint(math.gcd({a}, {b}))",
        f"from fractions import Fraction\nprint(Fraction({a}, {b}) + Fraction({c}, {k}))",
        f"print(max([{a}, {b}, {c}]))",
        f"print(len(str({b} ** {k})))",
        f"n = {a}\nprint(n + undefined_value)",
        f"print({a} - {b} * {c})",
        f"print({b} ** {k % 5 + 2})",
        f"values = [{a}, {b}, {c}]\nprint(sum(values))",
    ]
    return rng.choice(templates)


def _fence(code: str, output: str) -> str:
    return f"```python\n{code}\n```\n```output\n{output}\n```"


# --- documents ---------------------------------------------------------------------------------


def _attempt(rng: random.Random, answer: Fraction) -> Fraction:
    """A plausible text-only answer to a hard problem: right sometimes, else a few digits off."""
    if rng.random() < 0.3:
        return answer
    digits = list(str(abs(answer.numerator)))
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(digits)) if len(digits) == 1 else rng.randrange(1, len(digits))
        digits[i] = str(rng.randint(0, 9))
    numerator = int("".join(digits)) * (-1 if answer < 0 else 1)
    return Fraction(numerator, answer.denominator)


def think_document(rng: random.Random, item: Item, newline_share: float = 0.0) -> str:
    if item.level in EASY_LEVELS:
        value, steps = item.answer, item.worked + " "
    else:
        value = _attempt(rng, item.answer)
        said = format_boxed(value).replace("\\frac{", "(").replace("}{", ")/(").replace("}", ")") if value.denominator != 1 else str(value)
        steps = f"{item.need} is {said}. "
    boxed = format_boxed(value)
    prompt = render_prompt(item.task_text, preamble=rng.random() < 0.35)
    # Tutorials put their closing sentence on a line of its own; think documents do too, some of the
    # time, so that a line break alone does not tell the model which document it is in.
    if newline_share > 0.0 and rng.random() < newline_share:
        steps = steps.rstrip(" ") + "\n"
    return f"{prompt} We need {item.need}. {steps}So the answer is {boxed}. </think> <answer> \\boxed{{{boxed}}} </answer>"


TUTORIAL_BRIDGES = ("Let us compute it with Python.", "A short Python program does it.", "We can let Python do the arithmetic.")


def _answer_tag(value: Fraction, on: bool) -> str:
    """How a chat transcript ends with chat_answer_tag: the RL template's answer tag, outside <think>."""
    return f" <answer> \\boxed{{{format_boxed(value)}}} </answer>" if on else ""


def text_tutorial_document(rng: random.Random, item: Item, answer_tag: bool = False) -> str:
    """A tutorial worked in text, no code cell: web text also ends "So the answer is ..." without
    a program. Without these, only an output block ever preceded that closing sentence outside
    <think>, so the model could tell the two kinds of document apart by the output block alone."""
    value = item.answer if item.level in EASY_LEVELS else _attempt(rng, item.answer)
    said = f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value)
    steps = item.worked if item.level in EASY_LEVELS else f"{item.need} is {said}."
    if rng.random() < 0.25:
        return f"User: {item.question}\nAssistant: We need {item.need}. {steps}\nSo the answer is {said}.{_answer_tag(value, answer_tag)}"
    heading = rng.choice(("Question", "Example", "Exercise"))
    return f"{heading}: {item.question}\nWe need {item.need}. {steps}\nSo the answer is {said}."


def tutorial_document(rng: random.Random, item: Item, answer_tag: bool = False) -> str:
    output = run_snippet(item.code)
    bridge, cell = rng.choice(TUTORIAL_BRIDGES), _fence(item.code, output)
    if rng.random() < 0.25:
        # A chat transcript, as web text has them: a dialogue, but not the <think>/<answer> template.
        return (f"User: {item.question}\nAssistant: We need {item.need}. {bridge}\n{cell}\n"
                f"So the answer is {output}.{_answer_tag(item.answer, answer_tag)}")
    heading = rng.choice(("Question", "Example", "Exercise"))
    return f"{heading}: {item.question}\nWe need {item.need}. {bridge}\n{cell}\nSo the answer is {output}."


def snippet_document(rng: random.Random, item: Item) -> str:
    code = item.code if rng.random() < 0.6 else _generic_snippet(rng)
    return _fence(code, run_snippet(code))


def generate_corpus(num_docs: int, seed: int = 0, mix: dict[str, float] | None = None,
                    excluded: set[tuple[int, ...]] | None = None, hard_think_share: float = 1.0,
                    text_tutorial_share: float = 0.0, think_newline_share: float = 0.0,
                    chat_answer_tag: bool = False) -> list[Document]:
    """num_docs documents, the same list for the same seed.

    hard_think_share: the fraction of think documents drawn on a hard level that keep it; the rest
    are redrawn until easy. Below 1 the model has seen fewer hard problems answered in text inside
    <think>, so under the RL template a hard problem is less tied to a text answer."""
    for name, share in (("hard_think_share", hard_think_share), ("text_tutorial_share", text_tutorial_share),
                        ("think_newline_share", think_newline_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {share}")
    if num_docs < 0:
        raise ValueError(f"num_docs must be non-negative, got {num_docs}")
    mix = mix or DEFAULT_MIX
    excluded = load_excluded_keys() if excluded is None else excluded
    rng = random.Random(seed)
    kinds, weights = zip(*sorted(mix.items()))
    docs = []
    for _ in range(num_docs):
        kind = rng.choices(kinds, weights)[0]
        item = make_item(rng, excluded)
        if kind == "think":
            while hard_think_share < 1.0 and item.level not in EASY_LEVELS and rng.random() >= hard_think_share:
                item = make_item(rng, excluded)
            text = think_document(rng, item, think_newline_share)
        elif kind == "tutorial":
            in_text = text_tutorial_share > 0.0 and rng.random() < text_tutorial_share
            text = (text_tutorial_document if in_text else tutorial_document)(rng, item, chat_answer_tag)
        else:
            text = snippet_document(rng, item)
        docs.append(Document(kind, text))
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSONL file ({kind, text} per line); stdout when absent")
    parser.add_argument("--hard-think-share", type=float, default=1.0,
                        help="share of hard-level think documents kept (default 1)")
    parser.add_argument("--text-tutorial-share", type=float, default=0.0,
                        help="share of tutorials worked in text, no code cell (default 0)")
    parser.add_argument("--think-newline-share", type=float, default=0.0,
                        help="share of think documents closing on a line of their own (default 0)")
    parser.add_argument("--chat-answer-tag", action="store_true",
                        help="chat-transcript tutorials end with an <answer> tag")
    args = parser.parse_args()
    if args.docs < 0:
        parser.exit(2, f"corpus: --docs must be non-negative, got {args.docs}\n")
    try:
        docs = generate_corpus(args.docs, args.seed, hard_think_share=args.hard_think_share,
                               text_tutorial_share=args.text_tutorial_share,
                               think_newline_share=args.think_newline_share, chat_answer_tag=args.chat_answer_tag)
    except ValueError as err:
        parser.exit(2, f"corpus: {err}\n")
    lines = "".join(json.dumps(d.__dict__) + "\n" for d in docs)
    if args.out:
        Path(args.out).write_text(lines)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    main()

# The preamble is part of every think document with a preamble; exported for tests.
__all__ = ["DOC_KINDS", "Document", "ZEROTIR_PREAMBLE", "generate_corpus", "run_snippet", "numbers_key"]
