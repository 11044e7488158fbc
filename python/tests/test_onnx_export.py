"""ONNX export of a causal LM with KV cache: names, parity with torch, left-padded batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForCausalLM

from tirflow_py.fixtures import make_tiny_random_model
from tirflow_py.onnx_export import cache_after, export_onnx


def past_inputs(feeds: dict[str, np.ndarray], layout: dict) -> list[np.ndarray]:
    return [feeds[f"past_key_values.{i}.{kind}"] for i in range(layout["numLayers"]) for kind in ("key", "value")]


@pytest.fixture(scope="module", params=[("built", False), ("built", True), ("traced", False)], ids=str)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """Every graph: hand-built (what Qwen2 models get) with new or present kv outputs, and traced."""
    graph, present = request.param
    root = tmp_path_factory.mktemp("onnx")
    model_dir = make_tiny_random_model(root / "hf", seed=3)
    out_dir = root / "onnx"
    report = export_onnx(model_dir, out_dir, graph=graph, present=present)
    assert report["graph"] == graph
    return model_dir, out_dir, report


def test_folder_holds_graph_tokenizer_and_manifest(exported: tuple[Path, Path, dict]) -> None:
    _, out_dir, report = exported
    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json", "tirflow-onnx.json"):
        assert (out_dir / name).exists(), name
    manifest = json.loads((out_dir / "tirflow-onnx.json").read_text())
    assert manifest == report["layout"]
    assert manifest["numLayers"] == 2 and manifest["numKeyValueHeads"] == 2 and manifest["headDim"] == 16
    assert manifest["eosTokenIds"] == [0]


def test_graph_signature_follows_the_decoder_convention(exported: tuple[Path, Path, dict]) -> None:
    _, out_dir, report = exported
    session = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    assert list(inputs)[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert inputs["input_ids"].type == "tensor(int64)"
    assert inputs["past_key_values.1.value"].type == "tensor(float)"
    assert len(inputs["past_key_values.0.key"].shape) == 4
    kv = "new_key_values" if report["kvOutputs"] == "new" else "present"
    assert outputs == ["logits", f"{kv}.0.key", f"{kv}.0.value", f"{kv}.1.key", f"{kv}.1.value"]


def test_parity_with_torch(exported: tuple[Path, Path, dict]) -> None:
    parity = exported[2]["parity"]
    assert parity["maxAbsLogitDiffNoPast"] < 1e-4
    assert parity["maxAbsLogitDiffWithPast"] < 1e-4
    assert parity["greedyTokensMatch"], parity


def test_left_padded_batch_matches_single_sequences(exported: tuple[Path, Path, dict]) -> None:
    """The engine batches prompts of different lengths with left padding; padding must not leak."""
    model_dir, out_dir, report = exported
    layout = report["layout"]
    session = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    short, long = [5, 9, 17], [40, 41, 42, 43, 44, 45]
    width = len(long)
    ids = np.array([[0] * (width - len(short)) + short, long], dtype=np.int64)
    mask = np.array([[0] * (width - len(short)) + [1] * len(short), [1] * width], dtype=np.int64)
    positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
    for i in range(layout["numLayers"]):
        for kind in ("key", "value"):
            feeds[f"past_key_values.{i}.{kind}"] = np.zeros((2, layout["numKeyValueHeads"], 0, layout["headDim"]), np.float32)
    outs = session.run(None, feeds)
    logits = outs[0]
    cache = cache_after(session, past_inputs(feeds, layout), outs)
    assert np.isfinite(logits).all()
    with torch.no_grad():
        for row, seq in enumerate([short, long]):
            expected = model(torch.tensor([seq])).logits[0, -1].numpy()
            assert np.abs(logits[row, -1] - expected).max() < 1e-4

    # One cached decode step on top of the padded prefill.
    step = {"input_ids": np.array([[7], [7]], dtype=np.int64)}
    step["attention_mask"] = np.concatenate([mask, np.ones((2, 1), np.int64)], axis=1)
    step["position_ids"] = np.array([[len(short)], [len(long)]], dtype=np.int64)
    for i in range(layout["numLayers"]):
        step[f"past_key_values.{i}.key"] = cache[2 * i]
        step[f"past_key_values.{i}.value"] = cache[2 * i + 1]
    stepped = session.run(None, step)[0]
    with torch.no_grad():
        for row, seq in enumerate([short, long]):
            expected = model(torch.tensor([seq + [7]])).logits[0, -1].numpy()
            assert np.abs(stepped[row, -1] - expected).max() < 1e-4


def test_several_new_tokens_over_a_padded_past_match_torch(exported: tuple[Path, Path, dict]) -> None:
    """Three tokens at once on top of a left-padded cache: the causal mask must count the past."""
    model_dir, out_dir, report = exported
    layout = report["layout"]
    session = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prefix, more = [[11, 12], [20, 21, 22, 23]], [[30, 31, 32], [33, 34, 35]]
    mask = np.array([[0, 0, 1, 1], [1, 1, 1, 1]], dtype=np.int64)
    feeds = {
        "input_ids": np.array([[0, 0, *prefix[0]], prefix[1]], dtype=np.int64),
        "attention_mask": mask,
        "position_ids": np.clip(np.cumsum(mask, axis=1) - 1, 0, None),
    }
    for i in range(layout["numLayers"]):
        for kind in ("key", "value"):
            feeds[f"past_key_values.{i}.{kind}"] = np.zeros((2, layout["numKeyValueHeads"], 0, layout["headDim"]), np.float32)
    past = cache_after(session, past_inputs(feeds, layout), session.run(None, feeds))
    step = {
        "input_ids": np.array(more, dtype=np.int64),
        "attention_mask": np.concatenate([mask, np.ones((2, 3), np.int64)], axis=1),
        "position_ids": np.array([[2, 3, 4], [4, 5, 6]], dtype=np.int64),
    }
    for i in range(layout["numLayers"]):
        step[f"past_key_values.{i}.key"] = past[2 * i]
        step[f"past_key_values.{i}.value"] = past[2 * i + 1]
    logits = session.run(None, step)[0]
    with torch.no_grad():
        for row in range(2):
            expected = model(torch.tensor([prefix[row] + more[row]])).logits[0, -3:].numpy()
            assert np.abs(logits[row] - expected).max() < 1e-4


def test_auto_builds_qwen2_and_traces_what_the_builder_does_not_know(tmp_path: Path) -> None:
    model_dir = make_tiny_random_model(tmp_path / "hf")
    assert export_onnx(model_dir, tmp_path / "auto")["graph"] == "built"
    config = json.loads((model_dir / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "linear", "factor": 2.0}
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rotary type 'linear'"):
        export_onnx(model_dir, tmp_path / "built", graph="built")
    report = export_onnx(model_dir, tmp_path / "fallback")
    assert report["graph"] == "traced"
    assert report["parity"]["greedyTokensMatch"], report["parity"]


def test_refuses_a_folder_without_tokenizer(tmp_path: Path) -> None:
    model_dir = make_tiny_random_model(tmp_path / "hf")
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        export_onnx(model_dir, tmp_path / "onnx")


def test_exporting_into_the_model_folder_keeps_its_files(tmp_path: Path) -> None:
    """The trainer may export next to its checkpoint: nothing but the export's own files may change."""
    model_dir = make_tiny_random_model(tmp_path / "hf")
    before = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name not in ("config.json", "generation_config.json")}
    report = export_onnx(model_dir, model_dir)
    assert report["parity"]["greedyTokensMatch"]
    after = {p.name for p in model_dir.iterdir()}
    assert after == set(before) | {"config.json", "generation_config.json", "model.onnx", "tirflow-onnx.json"}
    for name, data in before.items():
        assert (model_dir / name).read_bytes() == data, name
