"""The pretraining corpus: deterministic, kinds never mixed, outputs real, no task-split problems."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from tirflow_py.corpus import (
    DOC_KINDS,
    generate_corpus,
    load_excluded_keys,
    numbers_key,
    run_snippet,
)
from tirflow_py.base_eval import parse_number
from tirflow_py.corpus_template import ASSISTANT_START

CODE_CELL = re.compile(r"```python\n(.*?)\n```\n```output\n(.*?)\n```", re.S)
DOCS = generate_corpus(600, seed=11)


def test_same_seed_same_documents_other_seed_different():
    assert generate_corpus(50, seed=11) == DOCS[:50]
    assert generate_corpus(50, seed=12) != DOCS[:50]


def test_every_kind_is_present():
    assert {d.kind for d in DOCS} == set(DOC_KINDS)


def test_think_documents_never_contain_code():
    for doc in (d for d in DOCS if d.kind == "think"):
        response = doc.text.split(ASSISTANT_START, 1)[1]
        assert "```" not in response, doc.text
        assert response.count("<answer>") == 1 and "\\boxed{" in response.split("<answer>")[1]


def test_code_documents_never_use_the_rl_template():
    for doc in (d for d in DOCS if d.kind != "think"):
        for marker in ("<think>", "</think>", "<answer>", "</answer>", "\\boxed"):
            assert marker not in doc.text, doc.text


def test_every_output_block_is_what_the_code_prints():
    cells = [cell for d in DOCS if d.kind != "think" for cell in CODE_CELL.findall(d.text)]
    assert len(cells) > 100
    for code, output in cells:
        assert run_snippet(code) == output, code


def test_run_snippet_reports_errors_as_the_last_traceback_line():
    assert run_snippet("print(6 * 7)") == "42"
    assert run_snippet("print(1)\nprint(1 / 0)") == "1\nZeroDivisionError: division by zero"


def test_no_document_uses_a_task_split_problem():
    excluded = load_excluded_keys()
    assert len(excluded) > 5000  # the shipped splits were found
    for doc in (d for d in DOCS if d.kind == "think"):
        problem = doc.text.split("\nAssistant: <think>")[0].rsplit("\n", 1)[-1].removeprefix("User: ")
        assert numbers_key(problem) not in excluded, problem
    for doc in (d for d in DOCS if d.kind == "tutorial"):
        # "We need ..." names the numbers in the task rows' order, except for equations,
        # whose question keeps it ("Find x if 7x + 13 = 52.").
        question, need = doc.text.split(": ", 1)[1].split("\n", 2)[:2]
        key = numbers_key(question if "x = (" in need else need.split(". ")[0])
        assert key not in excluded, doc.text


# --- the stage-3 corpus the shipped model was last trained on (its knobs, read from its log) ----

MODEL_LOG = json.loads((Path(__file__).resolve().parents[2] / "models/tiny-base/pretrain_log.json").read_text())
STAGE3_KNOBS = {
    "hard_think_share": MODEL_LOG["config"]["hard_think_share"],
    "text_tutorial_share": MODEL_LOG["config"]["text_tutorial_share"],
    "think_newline_share": MODEL_LOG["config"]["think_newline_share"],
    "chat_answer_tag": bool(MODEL_LOG["config"]["chat_answer_tag"]),
}
STAGE3 = generate_corpus(800, seed=MODEL_LOG["config"]["seed"], **STAGE3_KNOBS)
HARD_PROBLEM = re.compile(r"What is \d+ \* \d+\?|remainder|sum of all integers|sum of the squares|Solve for x")


def test_knob_defaults_leave_the_stage_two_corpus_unchanged():
    # Fingerprint of the corpus (seed 2) that stage 2 of the shipped model trained on, taken
    # before the knobs existed: their defaults must reproduce it byte for byte.
    texts = "".join(d.kind + d.text for d in generate_corpus(500, seed=2))
    assert hashlib.sha256(texts.encode()).hexdigest() == "420ffb6ed58b26a8f480cb51d7546e30f1fc6a2c702b057b76eb1c5641b9627e"


def test_stage3_knobs_are_those_of_the_shipped_model():
    assert STAGE3_KNOBS["hard_think_share"] < 1.0 and STAGE3_KNOBS["text_tutorial_share"] > 0.0
    assert MODEL_LOG["config"]["init_from"], "stage 3 continues the stage-2 model"


def test_stage3_think_documents_are_text_only_and_easy_when_hard_ones_are_dropped():
    thinks = [d for d in STAGE3 if d.kind == "think"]
    assert len(thinks) > 200
    for doc in thinks:
        response = doc.text.split(ASSISTANT_START, 1)[1]
        assert "```" not in response, doc.text
        assert response.count("<answer>") == 1
    hard = [d for d in thinks if HARD_PROBLEM.search(d.text.split(ASSISTANT_START, 1)[0].rsplit("problem:", 1)[-1])]
    if STAGE3_KNOBS["hard_think_share"] == 0.0:
        assert hard == [], hard[:1]
    assert any("\nSo the answer is" in d.text for d in thinks), "some think documents close on their own line"


def test_stage3_never_shows_code_or_text_tutorials_inside_the_rl_template():
    others = [d for d in STAGE3 if d.kind != "think"]
    for doc in others:
        for marker in ("<think>", "</think>", "Assistant: <think>", "The reasoning process is enclosed"):
            assert marker not in doc.text, doc.text
        if "<answer>" in doc.text:
            # Only a chat transcript closes with an answer tag, and it repeats the stated answer.
            assert doc.kind == "tutorial" and doc.text.startswith("User: ") and "\nAssistant: " in doc.text, doc.text
            stated = re.search(r"So the answer is (\S+)\. <answer> \\boxed\{(.+)\} </answer>$", doc.text)
            assert stated and parse_number(stated.group(1)) == parse_number(stated.group(2)), doc.text
    tutorials = [d for d in others if d.kind == "tutorial"]
    text_only = [d for d in tutorials if "```" not in d.text]
    share = len(text_only) / len(tutorials)
    assert abs(share - STAGE3_KNOBS["text_tutorial_share"]) < 0.15, share
    for code, output in (cell for d in tutorials for cell in CODE_CELL.findall(d.text)):
        assert run_snippet(code) == output, code


def test_knobs_out_of_range_are_refused():
    for knob in ("hard_think_share", "text_tutorial_share", "think_newline_share"):
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match=knob):
                generate_corpus(1, **{knob: bad})
