"""Measures a base model under the ZeroTIR template at temperature 1.0 (the model card's numbers).

Per level: accuracy without any tool (a response that opens a ```python block has no answer), and
the fraction of responses that spontaneously open a ```python block. With --with-tool, responses
that opened a block go on as a rollout with one tool call would: the code is generated up to the
closing fence, run in a subprocess, its output appended, and generation continues to </answer>.
Grading here is a simple \\boxed{} extraction and exact numeric comparison; training uses math-verify.
Command line (the card's numbers):
  uv run --frozen python -m tirflow_py.base_eval --model ../models/tiny-base --tasks ../data/tasks/validation.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

from .corpus_template import CODE_CLOSE, CODE_OPEN, render_output_block, render_prompt

# Stops from the reference rollout; CODE_OPEN stops so a code block can be detected (and run).
ANSWER_STOPS = ["</answer>", "User:", "Human:", "Assistant:"]


def extract_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def parse_number(text: str | None) -> Fraction | None:
    """Integers, decimals, a/b and \\frac{a}{b} (optionally negative); None when not a number."""
    if text is None:
        return None
    s = text.strip().replace(" ", "").replace("$", "").replace("\\dfrac", "\\frac")
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}", s)
    try:
        if frac:
            value = Fraction(int(frac.group(2)), int(frac.group(3)))
            return -value if frac.group(1) else value
        if re.fullmatch(r"-?\d+(\.\d+)?(/-?\d+)?", s):
            return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return None


def same_number(got: Fraction | None, reference: Fraction | None) -> bool:
    if got is None or reference is None:
        return False
    return got == reference or abs(got - reference) <= Fraction(1, 10**6) * max(1, abs(reference))


def run_code(code: str, timeout_s: float = 5.0) -> str:
    """The code's stdout, or its last traceback line; a stand-in for the project's sandbox."""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "TimeoutError: execution timed out"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    return done.stdout.strip()[:512]


def generate(model, tokenizer, texts: list[str], stops: list[str], max_new_tokens: int, batch: int) -> list[str]:
    """Samples a continuation of each text (temperature 1.0, no truncation), cut after its stop."""
    import torch

    outputs: list[str] = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False,
                        return_token_type_ids=False)
        with torch.no_grad():
            ids = model.generate(
                **enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                stop_strings=stops, tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id,
            )
        for row in ids[:, enc.input_ids.shape[1] :]:
            text = tokenizer.decode(row, skip_special_tokens=True)
            cut = min((text.find(s) + len(s) for s in stops if s in text), default=len(text))
            outputs.append(text[:cut])
    return outputs


def evaluate(model_dir: str, tasks: str, seed: int = 0, limit_per_level: int | None = None,
             with_tool: bool = False, batch: int = 50, max_new_tokens: int = 200) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()

    rows = [json.loads(line) for line in Path(tasks).read_text().splitlines() if line.strip()]
    if limit_per_level is not None:
        kept: dict[str, int] = defaultdict(int)
        rows = [r for r in rows if (kept.__setitem__(r["level"], kept[r["level"]] + 1) or kept[r["level"]] <= limit_per_level)]
    prompts = [render_prompt(r["problem"]) for r in rows]
    responses = generate(model, tokenizer, prompts, [CODE_OPEN, *ANSWER_STOPS], max_new_tokens, batch)

    results = [{"level": r["level"], "problem": r["problem"], "answer": r["answer"], "response": resp,
                "opened_code": resp.endswith(CODE_OPEN)} for r, resp in zip(rows, responses)]
    for res in results:
        res["correct"] = not res["opened_code"] and same_number(parse_number(extract_boxed(res["response"])),
                                                                  parse_number(res["answer"]))

    if with_tool:
        opened = [res for res in results if res["opened_code"]]
        prefixes = [render_prompt(res["problem"]) + res["response"] for res in opened]
        bodies = generate(model, tokenizer, prefixes, [CODE_CLOSE], 96, batch)
        continued = []
        for res, prefix, body in zip(opened, prefixes, bodies):
            res["code"] = body[: -len(CODE_CLOSE)].strip("\n") if body.endswith(CODE_CLOSE) else None
            res["code_output"] = run_code(res["code"]) if res["code"] is not None else None
            res["code_correct"] = same_number(parse_number(res["code_output"]), parse_number(res["answer"]))
            continued.append(prefix + body + render_output_block(res["code_output"] or ""))
        finals = generate(model, tokenizer, continued, ANSWER_STOPS, 128, batch)
        for res, final in zip(opened, finals):
            res["tool_response"] = final
            res["tool_correct"] = same_number(parse_number(extract_boxed(final)), parse_number(res["answer"]))

    by_level: dict[str, dict] = {}
    for level in sorted({res["level"] for res in results}):
        group = [res for res in results if res["level"] == level]
        opened = [res for res in group if res["opened_code"]]
        stats = {"n": len(group), "accuracy_no_tool": sum(r["correct"] for r in group) / len(group),
                 "code_open_rate": len(opened) / len(group)}
        if with_tool:
            stats["code_correct"] = sum(r["code_correct"] for r in opened)
            stats["accuracy_with_one_tool_call"] = sum(
                r["tool_correct"] if r["opened_code"] else r["correct"] for r in group) / len(group)
        by_level[level] = stats
    total = len(results)
    summary = {"model": model_dir, "tasks": tasks, "seed": seed, "n": total,
               "accuracy_no_tool": sum(r["correct"] for r in results) / total,
               "code_open_rate": sum(r["opened_code"] for r in results) / total,
               "by_level": by_level}
    if with_tool:
        opened_all = [r for r in results if r["opened_code"]]
        summary["code_blocks"] = len(opened_all)
        summary["code_blocks_correct"] = sum(r["code_correct"] for r in opened_all)
    return {"summary": summary, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="../models/tiny-base")
    parser.add_argument("--tasks", default="../data/tasks/validation.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-per-level", type=int)
    parser.add_argument("--with-tool", action="store_true")
    parser.add_argument("--out", help="write the summary and every response as JSON")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    report = evaluate(args.model, args.tasks, args.seed, args.limit_per_level, args.with_tool)
    summary = report["summary"]
    for level, stats in summary["by_level"].items():
        print(level, " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()))
    print(f"all n {summary['n']} accuracy_no_tool {summary['accuracy_no_tool']:.3f} "
          f"code_open_rate {summary['code_open_rate']:.3f}"
          + (f" code_blocks {summary['code_blocks']} correct {summary['code_blocks_correct']}" if args.with_tool else ""))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
