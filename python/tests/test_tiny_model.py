"""The shipped tiny base model loads the way a real Qwen2.5 checkpoint does, and the evaluator's
grading helpers do what the model card relies on."""

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tirflow_py.base_eval import evaluate, extract_boxed, parse_number, same_number
from tirflow_py.corpus_template import render_prompt

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "tiny-base"


@pytest.fixture(scope="module")
def loaded():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(MODEL_DIR), AutoTokenizer.from_pretrained(MODEL_DIR)


def test_hf_folder_has_the_standard_files():
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "generation_config.json", "README.md"):
        assert (MODEL_DIR / name).is_file(), name
    assert (MODEL_DIR / "model.safetensors").stat().st_size < 40 * 1024 * 1024


def test_loads_as_qwen2_with_parameter_count_of_the_card(loaded):
    model, tokenizer = loaded
    assert model.config.model_type == "qwen2"
    params = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= params <= 10_000_000
    log = json.loads((MODEL_DIR / "pretrain_log.json").read_text())
    assert log["parameters"] == params
    assert f"{params:,}" in (MODEL_DIR / "README.md").read_text()
    assert model.config.max_position_embeddings >= 512
    assert model.config.eos_token_id == tokenizer.eos_token_id == model.generation_config.eos_token_id


def test_greedy_continuation_of_an_easy_prompt_follows_the_template(loaded):
    import torch

    model, tokenizer = loaded
    enc = tokenizer(render_prompt("What is 3 + 4?"), return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, max_new_tokens=60, pad_token_id=tokenizer.eos_token_id)
    text = tokenizer.decode(out[0, enc.input_ids.shape[1]:], skip_special_tokens=True)
    assert "</think>" in text and "\\boxed{" in text, text


def test_boxed_extraction_and_numeric_comparison():
    assert extract_boxed("so \\boxed{1} then <answer> \\boxed{\\frac{3}{7}} </answer>") == "\\frac{3}{7}"
    assert extract_boxed("no box") is None
    assert parse_number("-\\frac{39}{7}") == Fraction(-39, 7)
    assert parse_number("-39/7") == Fraction(-39, 7)
    assert parse_number(" 287663 ") == 287663
    assert parse_number("x = 3") is None
    assert same_number(parse_number("5.571428571428571"), Fraction(39, 7))
    assert not same_number(parse_number("5.57"), Fraction(39, 7))
    assert not same_number(None, Fraction(1))


def test_evaluate_reports_every_level_with_rates_in_range(tmp_path):
    rows = [json.loads(line) for line in (ROOT / "data" / "tasks" / "validation.jsonl").read_text().splitlines()]
    report = evaluate(str(MODEL_DIR), str(ROOT / "data" / "tasks" / "validation.jsonl"), seed=0,
                      limit_per_level=2, with_tool=True)
    summary = report["summary"]
    assert set(summary["by_level"]) == {r["level"] for r in rows}
    assert summary["n"] == 2 * len(summary["by_level"])
    for res in report["results"]:
        # a response either stopped at a code fence or is graded on its own \boxed{}
        assert not (res["opened_code"] and res["correct"])
        if res["opened_code"]:
            assert "tool_response" in res
    assert 0.0 <= summary["code_open_rate"] <= 1.0
