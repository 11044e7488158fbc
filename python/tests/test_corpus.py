"""The pretraining corpus: deterministic, kinds never mixed, outputs real, no task-split problems."""

import re

from tirflow_py.corpus import (
    DOC_KINDS,
    generate_corpus,
    load_excluded_keys,
    numbers_key,
    run_snippet,
)
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
