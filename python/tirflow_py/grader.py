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

Run: python -m tirflow_py.grader [--max-memory-mb N]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import sys
import time
from typing import Any, TextIO

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from sympy import Basic, MatrixBase

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
    correct = bool(verify(gold, parsed, timeout_seconds=None))
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
