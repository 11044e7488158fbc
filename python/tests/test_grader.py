"""The math-verify grader: equivalence judgements and the line-delimited JSON protocol.

Every case runs real math-verify and sympy. Where math-verify's judgement is a choice rather
than mathematics (tuples against sets), the test pins what the paper's grader does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tirflow_py.grader import grade

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EQUIVALENT = [
    # fractions
    (r"\frac{1}{2}", "0.5"),
    (r"\frac{2}{4}", r"\frac12"),
    (r"\dfrac{3}{4}", "3/4"),
    # decimals
    ("3.0", "3"),
    ("0.125", r"\frac{1}{8}"),
    # radicals
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\sqrt{2}/2", r"\frac{1}{\sqrt{2}}"),
    # pi
    (r"\frac{\pi}{2}", r"\pi/2"),
    (r"2\pi", r"\pi \cdot 2"),
    # sets ignore order; math-verify also accepts a tuple for a set of the same elements
    (r"\{3,2,1\}", r"\{1,2,3\}"),
    ("(1,2,3)", r"\{1,2,3\}"),
    ("(1,2,3)", "(1,2,3)"),
    # intervals
    (r"[0,\infty)", r"[0, \infty)"),
    (r"(-\infty, 2]", r"(-\infty,2]"),
    # thousands separators
    ("1,000,000", "1000000"),
    ("1{,}000", "1000"),
    ("12,345", "12345"),
    # an equation for a value, both ways round
    ("x=3", "3"),
    ("3", "x=3"),
    # text answers
    (r"\text{Tuesday}", r"\text{Tuesday}"),
    (r"\text{(B)}", r"\text{(B)}"),
]

NOT_EQUIVALENT = [
    (r"\frac{1}{3}", "0.33"),
    ("2.5", "2.05"),
    (r"\sqrt{3}", r"\sqrt{2}"),
    ("3.14", r"\pi"),  # a rounded value of pi is not pi
    (r"\pi", "180"),
    ("(1,2,3)", "(3,2,1)"),  # tuples are ordered
    (r"\{1,2\}", r"\{1,3\}"),
    ("[1,3)", "[1,3]"),  # open and closed ends differ
    (r"(-\infty, 2)", r"(-\infty,2]"),
    ("1000", "1000000"),
    ("1,000", "1"),  # a thousands separator is not a decimal point
    ("x=4", "3"),
    (r"\text{Monday}", r"\text{Tuesday}"),
    (r"\text{(A)}", r"\text{(B)}"),
]


# Numerically close but different at very small or very large magnitudes: math-verify alone
# rounds decimals to 6 places and chops small differences, and calls each pair equal.
NEAR_BUT_DIFFERENT = [
    ("0.0000002", "0.0000003"),
    ("0.0000002", r"3\times10^{-7}"),
    ("0.0000011", "0.000001"),
    (r"\sqrt{2}\cdot10^{-20}", r"\sqrt{3}\cdot10^{-20}"),
    ("10^{20}+0.5", "10^{20}"),
    ("(0.0000002, 1)", "(0.0000003, 1)"),
]

# Rounded decimals and float noise that must stay correct after the stricter check.
ROUNDED_BUT_RIGHT = [
    ("0.333333", r"\frac{1}{3}"),
    (r"\frac{2}{3}", "0.666667"),
    ("3.141593", r"\pi"),
    ("1.4142136", r"\sqrt{2}"),
    ("0.30000000000000004", "0.3"),  # float noise copied from a program's output
    ("0.1+0.2", "0.3"),
    (r"2\times10^{-7}", "0.0000002"),
    ("0.0000002", "0.0000002"),
    ("10^{20}", "100000000000000000000"),
    ("[0.5, 1]", r"[\frac{1}{2}, 1]"),
]


@pytest.mark.parametrize("pred,ref", NEAR_BUT_DIFFERENT)
def test_near_equal_numbers_at_extreme_magnitudes_are_incorrect(pred: str, ref: str) -> None:
    result = grade(pred, ref)
    assert result["status"] == "incorrect", result
    assert result["correct"] is False


@pytest.mark.parametrize("pred,ref", ROUNDED_BUT_RIGHT)
def test_rounded_decimals_and_float_noise_stay_correct(pred: str, ref: str) -> None:
    result = grade(pred, ref)
    assert result["status"] == "correct", result


@pytest.mark.parametrize("pred,ref", EQUIVALENT)
def test_equivalent_answers_are_correct(pred: str, ref: str) -> None:
    result = grade(pred, ref)
    assert result["status"] == "correct", result
    assert result["correct"] is True


@pytest.mark.parametrize("pred,ref", NOT_EQUIVALENT)
def test_different_answers_are_incorrect(pred: str, ref: str) -> None:
    result = grade(pred, ref)
    assert result["status"] == "incorrect", result
    assert result["correct"] is False


@pytest.mark.parametrize("pred", ["", "   ", r"\frac{", "???", r"\text{}"])
def test_empty_or_unparsable_prediction_scores_unparsable_not_error(pred: str) -> None:
    result = grade(pred, "3")
    assert result["status"] == "unparsable", result
    assert result["correct"] is False


def test_empty_reference_is_an_error_of_the_dataset() -> None:
    result = grade("3", "  ")
    assert result["status"] == "error"
    assert result["message"].startswith("reference")


def _serve(lines: list[str]) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "tirflow_py.grader"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=PYTHON_DIR,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_protocol_answers_each_line_and_survives_malformed_requests() -> None:
    replies = _serve(
        [
            json.dumps({"id": "a", "pred": r"\frac{6}{8}", "ref": "0.75"}),
            "this is not json",
            json.dumps({"id": "b", "pred": 3, "ref": "3"}),
            json.dumps({"id": "c", "pred": "x=5", "ref": "4"}),
        ]
    )
    assert replies[0]["ready"] is True
    pid = replies[0]["pid"]
    answers = replies[1:]
    assert [a["id"] for a in answers] == ["a", None, "b", "c"]
    assert [a["status"] for a in answers] == ["correct", "error", "error", "incorrect"]
    assert "JSONDecodeError" in answers[1]["message"]
    assert all(a["pid"] == pid for a in answers)
    assert all(a["startedAtMs"] <= a["finishedAtMs"] for a in answers)
