"""The simulated update (trainer.kind: simulated): the real data path, a small checkpoint, exactly once."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tirflow_py.trainer import checkpoint as ckpt
from tirflow_py.trainer.errors import TrainerError
from tirflow_py.trainer.settings import METRIC_NAMES, default_settings
from tirflow_py.trainer.simulated import DIGEST_FILE, simulated_update

PYTHON_DIR = Path(__file__).resolve().parents[1]
TINY_BASE = PYTHON_DIR.parent / "models" / "tiny-base"


def write_scored(path: Path, groups: int = 3, samples: int = 4, flip: bool = False) -> Path:
    rows = []
    for g in range(groups):
        for n in range(samples):
            response = [5 + (g * 7 + n * 3 + i) % 600 for i in range(9 + n)]
            rows.append({
                "id": f"s1-p{g}-n{n}", "promptId": f"p{g}", "promptTokenIds": [1, 2, 3 + g],
                "responseTokenIds": response, "actionMask": [1] * 4 + [0] * 2 + [1] * (3 + n),
                # Group 0 is uniform (filtered out); the others mix rewards.
                "reward": 0.0 if g == 0 else float((n + flip) % 2),
            })
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def request(tmp: Path, step: int = 1, **extra) -> dict:
    return {
        "step": step, "version": step - 1, "scored_paths": [str(tmp / "scored.jsonl")],
        "checkpoint_dir": str(tmp / "run" / f"step-{step:04d}"), "policy_dir": str(TINY_BASE),
        "update_s": 0.0, "settings": default_settings(micro_batch_size=2), **extra,
    }


def test_a_step_packs_the_batch_and_commits_a_small_checkpoint(tmp_path):
    write_scored(tmp_path / "scored.jsonl")
    started = time.perf_counter()
    result = simulated_update(request(tmp_path, update_s=0.3))
    assert time.perf_counter() - started >= 0.3  # it waits the update time (at least)
    assert result["reused"] is False and result["version"] == 1
    assert result["groups_filtered"] == 1 and result["trajectories"] == 12
    assert set(METRIC_NAMES) <= set(result), "the torch trainer's whole metric record"
    assert result["trajectories_trained"] == 8 and result["loss"] == 0
    kept_tokens = sum(3 + 9 + n for n in range(4)) * 2  # groups 1 and 2, prompt + response
    assert result["trained_tokens"] == kept_tokens
    target = tmp_path / "run" / "step-0001"
    assert ckpt.is_complete(target)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", DIGEST_FILE):
        assert (target / "hf" / name).is_file(), name
    assert not (target / "hf" / "model.safetensors").exists(), "no weights: it is a simulation"
    assert ckpt.read_meta(target)["metrics"]["digest"] == result["digest"]
    log = (tmp_path / "run" / ckpt.STEP_LOG).read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1]


def test_refill_cap_keeps_the_first_groups_as_the_torch_trainer_does(tmp_path):
    write_scored(tmp_path / "scored.jsonl")
    result = simulated_update(request(tmp_path, max_groups=1))
    # Group 0 is filtered (uniform rewards); of groups 1 and 2 only the first is trained.
    assert result["groups_filtered"] == 1 and result["trajectories_trained"] == 4
    assert result["trained_tokens"] == sum(3 + 9 + n for n in range(4))


def test_the_digest_follows_the_data(tmp_path):
    digests = []
    for name, flip in (("a", False), ("b", False), ("c", True)):
        (tmp_path / name).mkdir()
        write_scored(tmp_path / name / "scored.jsonl", flip=flip)
        digests.append(simulated_update(request(tmp_path / name))["digest"])
    assert digests[0] == digests[1], "the same trajectories pack to the same tensors"
    assert digests[2] != digests[0], "other rewards give other advantages"


def test_a_committed_step_is_reused_never_redone(tmp_path):
    write_scored(tmp_path / "scored.jsonl")
    first = simulated_update(request(tmp_path))
    meta_file = tmp_path / "run" / "step-0001" / ckpt.META_FILE
    before = meta_file.stat().st_mtime_ns
    again = simulated_update(request(tmp_path, update_s=30.0))  # would wait if it trained again
    assert again["reused"] is True and again["digest"] == first["digest"]
    assert meta_file.stat().st_mtime_ns == before
    assert len((tmp_path / "run" / ckpt.STEP_LOG).read_text().splitlines()) == 1


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    write_scored(tmp_path / "scored.jsonl")
    with pytest.raises(TrainerError) as settings:
        simulated_update({**request(tmp_path), "settings": {"learning_rate": 1e-3}})
    assert settings.value.type == "InvalidSettings"
    with pytest.raises(TrainerError) as mismatch:
        simulated_update({**request(tmp_path, step=2), "version": 0})
    assert mismatch.value.type == "PolicyVersionMismatch" and not mismatch.value.retryable
    (tmp_path / "scored.jsonl").write_text('{"id": "x", "promptId": "p", "promptTokenIds": [1], '
                                           '"responseTokenIds": [1, 99999], "actionMask": [1, 1], "reward": 1}\n')
    with pytest.raises(TrainerError) as invalid:
        simulated_update(request(tmp_path))
    assert invalid.value.type == "InvalidTrajectory"
    assert not (tmp_path / "run").exists()


def test_the_entry_point_answers_one_json_line(tmp_path):
    write_scored(tmp_path / "scored.jsonl")
    run = subprocess.run(
        [sys.executable, "-m", "tirflow_py.trainer.simulated"], input=json.dumps(request(tmp_path)),
        capture_output=True, text=True, cwd=PYTHON_DIR, check=False,
    )
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 0, run.stderr
    assert all("progress" in line for line in lines[:-1])
    assert lines[-1]["ok"] is True and lines[-1]["version"] == 1
    bad = subprocess.run(
        [sys.executable, "-m", "tirflow_py.trainer.simulated"], input="[1]",
        capture_output=True, text=True, cwd=PYTHON_DIR, check=False,
    )
    assert bad.returncode == 1
    assert json.loads(bad.stdout.splitlines()[-1])["error"]["type"] == "InvalidRequest"
