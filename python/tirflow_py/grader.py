"""Answer grading with math-verify, served over line-delimited JSON on stdin/stdout.

One long-lived process grades one item at a time; the TypeScript pool
(activities/reward/graderPool.ts) runs one per core and enforces the per-item timeout from
outside: a hung comparison is SIGKILLed and the process replaced. math-verify's own timeout
uses signal.alarm, which only works in the main thread and would make the timeout depend on
this process's cooperation, so it is disabled here (parsing_timeout=None, timeout_seconds=None).

Protocol:
  started    -> {"ready": true, "pid": <pid>}
  request    <- {"id": <any>, "pred": "<answer latex>", "ref": "<reference latex>"}
  response   -> {"id": <same>, "status": "correct"|"incorrect"|"unparsable"|"error",
                 "correct": bool, "predParsed": str|null, "message": str|null,
                 "pid": int, "startedAtMs": float, "finishedAtMs": float}

`pred` is the extracted answer (the content of \\boxed{}), not a whole response: extraction
and the format check happen in TypeScript (common/answer.ts). A malformed request line is
answered with status "error" and the process keeps serving.

Numbers: math-verify compares a decimal by rounding both sides to 6 decimal places and other
numbers by a 15-digit evaluation that chops small values, so 2e-7 "equals" 3e-7 and 10^20 + 0.5
"equals" 10^20. Where it says equal and both answers are real numbers (or tuples, intervals or
sets of them), `_numbers_differ` checks again at the precision the answers are written at: exact
answers must agree exactly (to 30 significant digits, which absorbs evaluation noise of equal
irrational expressions); with a decimal literal, to within half a unit of its last written
place and to one part in a million, so 0.333333 is 1/3 and 3.141593 is pi but 0.0000002 is not
3e-7.

Run: python -m tirflow_py.grader [--max-memory-mb N]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import resource
import sys
import time
from typing import Any, TextIO

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from sympy import Basic, FiniteSet, Float, Interval, MatrixBase, Rational, Tuple

# The "timeout is disabled" warning is expected: the pool owns the timeout.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_EXTRACTION = [LatexExtractionConfig(), ExprExtractionConfig()]


def _parse_answer(latex: str) -> list[Any]:
    # Boxing the bare answer makes math-verify's LaTeX extractor take all of it (its boxed
    # pattern has the highest priority), so "x=3" or "1,000" are read as one answer.
    return parse("\\boxed{" + latex + "}", extraction_config=_EXTRACTION, parsing_timeout=None)


@functools.lru_cache(maxsize=4096)
def _parse_reference(latex: str) -> tuple[Any, ...]:
    # Every sample of a prompt shares its reference: parse it once.
    return tuple(_parse_answer(latex))


def _has_expression(parsed: list[Any]) -> bool:
    """True when math-verify produced a sympy object, not only its raw-string fallback."""
    return any(isinstance(p, (Basic, MatrixBase)) for p in parsed)


_DECIMAL_LITERAL = re.compile(r"\d*\.(\d+)")
# Exact answers must agree to this relative precision (evaluation noise of equal expressions is far below).
_EXACT_RELATIVE = Rational(1, 10**30)
# Decimal answers: as math-verify's 6 decimal places meant, but relative to the magnitude.
_DECIMAL_RELATIVE = Rational(1, 10**6)


def _decimal_places(*answers: str) -> int | None:
    """The fewest decimal places a decimal literal of the answers is written with; None without one."""
    places = [len(match.group(1)) for text in answers for match in _DECIMAL_LITERAL.finditer(text)]
    return min(places) if places else None


def _exact(expr: Basic) -> Basic:
    """The expression with each float replaced by the exact rational of its digits."""
    return expr.xreplace({f: Rational(str(f)) for f in expr.atoms(Float)})


def _number_parts(expr: Any) -> list[Basic] | None:
    """The real numbers an answer consists of, in a canonical order; None when it is not only numbers."""
    if isinstance(expr, Basic) and expr.is_number:
        return [expr]
    if isinstance(expr, Interval):
        parts = [expr.start, expr.end]
    elif isinstance(expr, (Tuple, FiniteSet)):
        parts = list(expr.args)
    else:
        return None
    if not all(isinstance(p, Basic) and p.is_number for p in parts):
        return None
    return sorted(parts, key=lambda p: float(p)) if isinstance(expr, FiniteSet) else parts


def _numbers_differ(gold: Any, pred: Any, ref_latex: str, pred_latex: str) -> bool:
    """True when gold and pred are real numbers (or the same shape of them) that differ beyond the
    precision the answers are written at (module docstring)."""
    golds, preds = _number_parts(gold), _number_parts(pred)
    if golds is None or preds is None or len(golds) != len(preds):
        return False
    places = _decimal_places(ref_latex, pred_latex)
    for g, p in zip(golds, preds):
        a, b = _exact(g), _exact(p)
        difference, scale = abs(a - b), max(abs(a), abs(b))
        if not (difference.is_Rational and scale.is_Rational):
            difference, scale = difference.evalf(60), scale.evalf(60)
        if not (difference.is_real and scale.is_real):
            return False  # a complex value: leave it to math-verify
        if places is None:
            tolerance = scale * _EXACT_RELATIVE
        else:
            tolerance = min(scale * _DECIMAL_RELATIVE, Rational(1, 2) / 10**places)
        if bool(difference > tolerance):
            return True
    return False


def _equivalent(gold: list[Any], parsed: list[Any], ref: str, pred: str) -> bool:
    """math-verify's verdict, with numerically-almost-equal numbers told apart."""
    if not verify(gold, parsed, timeout_seconds=None):
        return False
    for g in gold:
        for p in parsed:
            if verify([g], [p], timeout_seconds=None):
                try:
                    differ = _numbers_differ(g, p, ref, pred)
                except Exception:  # noqa: BLE001 - a comparison sympy cannot make: math-verify's verdict stands
                    differ = False
                if not differ:
                    return True
    return False


def grade(pred: str, ref: str) -> dict[str, Any]:
    """Grades one extracted answer against a reference. Never raises for bad predictions."""
    if not ref.strip():
        return {"status": "error", "correct": False, "predParsed": None, "message": "reference answer is empty"}
    if not pred.strip():
        return {"status": "unparsable", "correct": False, "predParsed": None, "message": "empty prediction"}
    gold = list(_parse_reference(ref))
    if not gold:
        return {"status": "error", "correct": False, "predParsed": None, "message": f"reference does not parse: {ref!r}"}
    parsed = _parse_answer(pred)
    if not parsed:
        return {"status": "unparsable", "correct": False, "predParsed": None, "message": "prediction does not parse"}
    correct = _equivalent(gold, parsed, ref, pred)
    if correct:
        status = "correct"
    elif _has_expression(parsed):
        status = "incorrect"
    else:
        status = "unparsable"
    return {"status": status, "correct": correct, "predParsed": str(parsed[0]), "message": None}


def _answer(request_line: str) -> dict[str, Any]:
    started = time.time() * 1000
    request_id: Any = None
    try:
        request = json.loads(request_line)
        if not isinstance(request, dict):
            raise ValueError("request must be a JSON object")
        request_id = request.get("id")
        pred, ref = request.get("pred"), request.get("ref")
        if not isinstance(pred, str) or not isinstance(ref, str):
            raise ValueError('request needs string fields "pred" and "ref"')
        result = grade(pred, ref)
    except Exception as err:  # noqa: BLE001 - one bad item must not end the process
        result = {"status": "error", "correct": False, "predParsed": None, "message": f"{type(err).__name__}: {err}"}
    return {
        "id": request_id,
        **result,
        "pid": os.getpid(),
        "startedAtMs": started,
        "finishedAtMs": time.time() * 1000,
    }


def _claim_stdout() -> TextIO:
    """Keeps the real stdout for protocol lines only; anything else printed goes to stderr."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return protocol


def serve(max_memory_mb: int) -> None:
    if max_memory_mb > 0:
        # Sympy can try to build a gigabyte-sized integer (10^(10^10)); fail that item with
        # MemoryError instead of swapping the host.
        limit = max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    protocol = _claim_stdout()
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        protocol.write(json.dumps(_answer(line)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-memory-mb", type=int, default=4096, help="address-space limit; 0 = none")
    args = parser.parse_args()
    serve(args.max_memory_mb)


if __name__ == "__main__":
    main()
