"""The trainer process over its JSON-lines protocol, including the crash fault switch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tirflow_py.fixtures import make_tiny_random_model
from tirflow_py.trainer.settings import default_settings

PYTHON_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_tiny_random_model(tmp_path_factory.mktemp("tiny"), seed=0)


def run_trainer(requests: list[dict], env: dict | None = None) -> tuple[int, list[dict], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "tirflow_py.trainer"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True, text=True, cwd=PYTHON_DIR, env={**os.environ, **(env or {})}, timeout=300,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def scored_file(tmp_path: Path) -> str:
    rows = [
        {"id": f"t{n}", "promptId": "p0", "promptTokenIds": [3, 4, 5], "responseTokenIds": [6, 7, 8, 9],
         "actionMask": [1, 0, 1, 1], "reward": float(n % 2)}
        for n in range(4)
    ]
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_protocol_answers_by_id_and_reports_errors_as_data(model_dir, tmp_path):
    code, lines, _ = run_trainer([
        {"id": 1, "cmd": "ping"},
        {"id": 2, "cmd": "load", "path": str(model_dir), "device": "cpu"},
        {"id": 3, "cmd": "logprobs", "sequences": [{"prompt_token_ids": [3, 4], "response_token_ids": [5, 6, 7]}]},
        {"id": 4, "cmd": "train_step", "step": 1, "scored_paths": [str(tmp_path / "missing.jsonl")],
         "checkpoint_dir": str(tmp_path / "ck" / "step-1"), "settings": default_settings(device="cpu")},
        {"id": 5, "cmd": "load", "path": str(tmp_path / "nowhere")},
        {"id": 6, "cmd": "train_step", "step": 1, "scored_paths": [], "checkpoint_dir": str(tmp_path / "x"),
         "settings": default_settings(algorithm="dpo")},
        {"id": 7, "cmd": "shutdown"},
    ])
    responses = {r["id"]: r for r in lines if "ok" in r}
    assert code == 0 and sorted(responses) == [1, 2, 3, 4, 5, 6, 7]
    assert responses[2]["version"] == 0 and responses[2]["parameters"] > 0
    logprobs = responses[3]["logprobs"][0]
    assert len(logprobs) == 3 and all(lp < 0 for lp in logprobs)
    assert responses[4]["error"]["type"] == "MissingArtifact"
    assert responses[5]["error"] == {"type": "MissingModel", "message": responses[5]["error"]["message"], "retryable": False}
    assert responses[6]["error"]["type"] == "InvalidSettings" and "dpo" in responses[6]["error"]["message"]
    assert responses[6]["error"]["retryable"] is False


def test_settings_must_be_complete_and_known(model_dir, tmp_path):
    """A record without one setting, or with one the trainer does not know, trains nothing."""
    scored = scored_file(tmp_path)
    without_seed = {k: v for k, v in default_settings(device="cpu").items() if k != "seed"}
    with_extra = {**default_settings(device="cpu"), "lr": 1e-3}  # the old name of learning_rate

    def step(request_id: int, settings) -> dict:
        return {"id": request_id, "cmd": "train_step", "step": 1, "scored_paths": [scored],
                "checkpoint_dir": str(tmp_path / "ck" / "step-1"), **({"settings": settings} if settings else {})}

    code, lines, _ = run_trainer([
        {"id": 1, "cmd": "load", "path": str(model_dir), "device": "cpu"},
        step(2, without_seed), step(3, with_extra), step(4, None), {"id": 5, "cmd": "shutdown"},
    ])
    errors = {r["id"]: r.get("error") for r in lines if "ok" in r}
    assert code == 0
    for request_id in (2, 3, 4):
        assert errors[request_id]["type"] == "InvalidSettings" and errors[request_id]["retryable"] is False
    assert "missing trainer settings: seed" in errors[2]["message"]
    assert "unknown trainer settings: lr" in errors[3]["message"]
    assert not (tmp_path / "ck").exists()


def test_crash_fault_mid_checkpoint_then_the_retried_step_commits_once(model_dir, tmp_path):
    scored = scored_file(tmp_path)
    checkpoint = tmp_path / "ck" / "step-0001"
    step = {"id": 2, "cmd": "train_step", "step": 1, "scored_paths": [scored], "checkpoint_dir": str(checkpoint),
            "settings": default_settings(algorithm="grpo", learning_rate=1e-3, device="cpu"), "export_onnx": True}
    load = {"id": 1, "cmd": "load", "path": str(model_dir), "device": "cpu"}
    fault = {"TIRFLOW_FAULT_TRAINER_CRASH_AT_STEP": "1"}

    code, lines, stderr = run_trainer([load, step, {"id": 3, "cmd": "shutdown"}], fault)
    assert code == 70, stderr
    assert [r["id"] for r in lines if "ok" in r] == [1]  # the step never answered
    assert not checkpoint.exists()
    assert len(list(checkpoint.parent.glob("step-0001.tmp-*"))) == 1

    code, lines, stderr = run_trainer([load, step, {**step, "id": 3}, {"id": 4, "cmd": "shutdown"}], fault)
    responses = {r["id"]: r for r in lines if "ok" in r}
    assert code == 0, stderr
    assert responses[2]["ok"] and responses[2]["reused"] is False and responses[2]["version"] == 1
    assert responses[3]["reused"] is True
    assert not list(checkpoint.parent.glob("step-0001.tmp-*"))
    assert (checkpoint / "onnx" / "model.onnx").exists() and (checkpoint / "hf" / "model.safetensors").exists()
    log = (checkpoint.parent / "trainer-steps.log").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1]
