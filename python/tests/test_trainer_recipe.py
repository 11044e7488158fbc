"""The paper's recipe in the trainer, row by row, on a real tiny Qwen2: log-probs at the rollout
temperature, sample masks, off-policy correction, and the update-metrics record."""

import json
import random
from pathlib import Path

import pytest
import torch

from tirflow_py.fixtures import make_tiny_random_model
from tirflow_py.trainer.errors import TrainerError
from tirflow_py.trainer.model import load_policy
from tirflow_py.trainer.settings import METRIC_NAMES, default_settings
from tirflow_py.trainer.trainer import Trainer

SETTINGS = default_settings(algorithm="grpo", learning_rate=3e-3, micro_batch_size=3, device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_tiny_random_model(tmp_path_factory.mktemp("tiny"), seed=0)


def rows(groups: int = 2, samples: int = 4, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for g in range(groups):
        prompt = [rng.randrange(1, 300) for _ in range(4)]
        for n in range(samples):
            out.append({
                "id": f"s1-p{g}-n{n}", "promptId": f"p{g}", "promptTokenIds": prompt,
                "responseTokenIds": [rng.randrange(1, 300) for _ in range(7)],
                "actionMask": [1, 1, 1, 0, 0, 1, 1], "reward": float(n % 2 == 0),
            })
    return out


def write(path: Path, data: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    return str(path)


def fresh(model_dir: Path) -> Trainer:
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    return trainer


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def trainer_logprobs(trainer: Trainer, data: list[dict], temperature: float) -> list[list[float]]:
    return trainer.logprobs(
        [{"prompt_token_ids": r["promptTokenIds"], "response_token_ids": r["responseTokenIds"]} for r in data],
        temperature,
    )


def test_logprobs_at_temperature_match_a_direct_torch_computation(model_dir):
    data = rows()[:3]
    trainer = fresh(model_dir)
    model, _ = load_policy(model_dir, torch.device("cpu"))
    for temperature in (0.7, 1.0):
        got = trainer_logprobs(trainer, data, temperature)
        for r, lps in zip(data, got):
            ids = torch.tensor([r["promptTokenIds"] + r["responseTokenIds"]])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0, :-1].double() / temperature
            direct = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
            p = len(r["promptTokenIds"])
            # float32 in the trainer, float64 here: agreement to 1e-5 nats.
            assert torch.allclose(torch.tensor(lps, dtype=torch.float64), direct[p - 1 :], atol=1e-5)
    at_07, at_1 = trainer_logprobs(trainer, data, 0.7), trainer_logprobs(trainer, data, 1.0)
    assert max(abs(a - b) for x, y in zip(at_07, at_1) for a, b in zip(x, y)) > 1e-2  # it does matter


def test_train_step_computes_logprobs_at_the_steps_temperature(model_dir, tmp_path):
    """Behaviour log-probs sampled at 0.7 (the trainer's own, standing in for an engine's) agree
    with the update's old log-probs only when the update is told the step ran at 0.7."""
    data = rows()
    reference = fresh(model_dir)
    behaviour = trainer_logprobs(reference, data, 0.7)
    for r, lps in zip(data, behaviour):
        r["behaviourLogprobs"] = [lp if m else 0.0 for lp, m in zip(lps, r["actionMask"])]
    scored = write(tmp_path / "scored.jsonl", data)
    gaps = {}
    for temperature in (0.7, 1.0):
        metrics = fresh(model_dir).train_step(
            1, [scored], str(tmp_path / f"t{temperature}" / "step-1"), {**SETTINGS, "temperature": temperature}
        )
        assert metrics["temperature"] == temperature
        gaps[temperature] = metrics["logprob_gap"]
    assert gaps[0.7] < 1e-5 and gaps[1.0] > 1e-2, gaps


def test_every_metric_of_the_record_comes_back(model_dir, tmp_path):
    scored = write(tmp_path / "s.jsonl", rows())
    metrics = fresh(model_dir).train_step(1, [scored], str(tmp_path / "ck" / "step-1"), SETTINGS)
    assert [k for k in metrics if k not in ("reused", "version")] == list(METRIC_NAMES)
    assert metrics["staleness"] == 0 and metrics["logprob_gap"] is None  # nothing recorded by an engine
    assert metrics["trajectories_trained"] == 8 and metrics["masked_truncated"] == 0


@pytest.mark.parametrize(
    "reason,switch,metric",
    [("truncated", "mask_truncated", "masked_truncated"), ("repetitive", "mask_repetitive", "masked_repetitive"),
     ("unpairedCode", "mask_unpaired_code", "masked_unpaired_code")],
)
def test_each_sample_mask_removes_what_it_names_and_is_counted(model_dir, tmp_path, reason, switch, metric):
    data = rows()
    data[1]["maskReasons"] = [reason]  # group p0, unrewarded
    data[6]["maskReasons"] = ["truncated"] if reason != "truncated" else ["repetitive"]  # another reason
    # The masked trajectory's tokens must not matter: a run with other tokens there ends the same.
    other = [dict(r) for r in data]
    other[1] = {**data[1], "responseTokenIds": [5] * 7}
    settings = {**SETTINGS, switch: True}

    def run(batch: list[dict], name: str) -> tuple[dict, dict]:
        trainer = fresh(model_dir)
        scored = write(tmp_path / name / "s.jsonl", batch)
        metrics = trainer.train_step(1, [scored], str(tmp_path / name / "step-1"), settings)
        return metrics, weights(trainer)

    metrics, after = run(data, "a")
    _, after_other = run(other, "b")
    assert metrics[metric] == 1 and metrics["trajectories_trained"] == 7
    assert sum(metrics[m] for m in ("masked_truncated", "masked_repetitive", "masked_unpaired_code")) == 1
    assert metrics["trained_tokens"] == 7 * 11  # the masked one never went through the model
    assert all(torch.equal(after[k], after_other[k]) for k in after)

    # With the switch off the trajectory trains, and its tokens change the update.
    off = {**SETTINGS}
    trainer = fresh(model_dir)
    unmasked = trainer.train_step(1, [write(tmp_path / "c" / "s.jsonl", data)], str(tmp_path / "c" / "step-1"), off)
    assert unmasked[metric] == 0 and unmasked["trajectories_trained"] == 8
    trainer_other = fresh(model_dir)
    trainer_other.train_step(1, [write(tmp_path / "d" / "s.jsonl", other)], str(tmp_path / "d" / "step-1"), off)
    assert not all(torch.equal(v, trainer_other.model.state_dict()[k]) for k, v in weights(trainer).items())


def test_corrections_other_than_none_need_behaviour_logprobs(model_dir, tmp_path):
    scored = write(tmp_path / "s.jsonl", rows())
    for mode in ("tis", "decoupled"):
        trainer = fresh(model_dir)
        with pytest.raises(TrainerError) as caught:
            settings = {**SETTINGS, "off_policy_correction": mode}
            trainer.train_step(1, [scored], str(tmp_path / mode / "step-1"), settings)
        assert caught.value.type == "MissingBehaviourLogprobs" and caught.value.retryable is False
        assert "s1-p0-n0" in caught.value.message and not (tmp_path / mode).exists()
    assert fresh(model_dir).train_step(1, [scored], str(tmp_path / "none" / "step-1"), SETTINGS)["reused"] is False


def test_off_policy_weights_staleness_and_gap(model_dir, tmp_path):
    """Behaviour log-probs ln 2 below the trainer's: every raw weight is 2. tis under a cap of 3
    keeps them (the gradient doubles), decoupled under a cap of 1.5 drops every token (no update)."""
    data = rows()
    own = trainer_logprobs(fresh(model_dir), data, 1.0)
    for r, lps in zip(data, own):
        r["behaviourLogprobs"] = [lp - 0.6931471805599453 if m else 0.0 for lp, m in zip(lps, r["actionMask"])]
        r["turnPolicyVersions"] = [0, 0]
    data[3]["turnPolicyVersions"] = [0, 0]
    scored = write(tmp_path / "s.jsonl", data)

    tis = fresh(model_dir)
    metrics = tis.train_step(1, [scored], str(tmp_path / "tis" / "step-1"),
                             {**SETTINGS, "off_policy_correction": "tis", "importance_weight_cap": 3.0})
    assert metrics["importance_weight_mean"] == pytest.approx(2.0, rel=1e-4)
    assert metrics["importance_weight_max"] == pytest.approx(2.0, rel=1e-4)
    assert metrics["importance_weight_truncated_fraction"] == 0.0
    assert metrics["logprob_gap"] == pytest.approx(0.6931, abs=1e-3)
    assert metrics["staleness"] == 0  # policy v0 updated from turns of v0

    base = fresh(model_dir)
    before = weights(base)
    dropped = base.train_step(1, [scored], str(tmp_path / "dec" / "step-1"),
                              {**SETTINGS, "off_policy_correction": "decoupled", "importance_weight_cap": 1.5})
    assert dropped["importance_weight_truncated_fraction"] == 1.0 and dropped["grad_norm"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())

    # Step 2 updates v1 from turns generated by v0 and v1: staleness 1.
    for r in data:
        r["id"] = r["id"].replace("s1-", "s2-")
        r["turnPolicyVersions"] = [1, 1]
    data[5]["turnPolicyVersions"] = [0, 1]
    second = tis.train_step(2, [write(tmp_path / "s2.jsonl", data)], str(tmp_path / "tis" / "step-2"),
                            {**SETTINGS, "off_policy_correction": "tis"})
    assert second["staleness"] == 1


def test_the_band_filters_groups_and_the_count_is_reported(model_dir, tmp_path):
    data = rows(groups=3, samples=4)
    for r in data[8:]:
        r["reward"] = 1.0 if r["id"].endswith("n0") else 0.0  # group p2: mean 0.25
    scored = write(tmp_path / "s.jsonl", data)
    # Groups p0 and p1 have mean 0.5; p2 0.25. The band (0.3, 0.8) keeps p0 and p1 only.
    metrics = fresh(model_dir).train_step(
        1, [scored], str(tmp_path / "ck" / "step-1"), {**SETTINGS, "filter_reward_low": 0.3, "filter_reward_high": 0.8}
    )
    assert metrics["groups"] == 3 and metrics["groups_filtered"] == 1 and metrics["trajectories_trained"] == 8
    off = fresh(model_dir).train_step(
        1, [scored], str(tmp_path / "off" / "step-1"), {**SETTINGS, "dynamic_filtering": False}
    )
    assert off["groups_filtered"] == 0 and off["trajectories_trained"] == 12
