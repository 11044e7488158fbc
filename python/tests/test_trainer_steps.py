"""The trainer on a real tiny Qwen2 model: masking, learning, checkpoints, exactly-once steps."""

import json
import random
from pathlib import Path

import pytest
import torch

from tirflow_py.fixtures import make_tiny_random_model
from tirflow_py.trainer.batch import Trajectory, pack
from tirflow_py.trainer.errors import TrainerError
from tirflow_py.trainer.losses import aggregate, policy_loss
from tirflow_py.trainer.model import load_policy, token_logprobs
from tirflow_py.trainer.settings import default_settings
from tirflow_py.trainer.trainer import Trainer

HYPER = default_settings(algorithm="grpo", learning_rate=3e-3, micro_batch_size=2, device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_tiny_random_model(tmp_path_factory.mktemp("tiny"), seed=0)


def toy_rows(groups: int = 2, samples: int = 4, seed: int = 0) -> list[dict]:
    """Group g, sample n: rewarded when n is even. Responses have a 2-token tool output in the middle."""
    rng = random.Random(seed)
    rows = []
    for g in range(groups):
        prompt = [rng.randrange(1, 300) for _ in range(4)]
        for n in range(samples):
            response = [rng.randrange(1, 300) for _ in range(7)]
            rows.append({
                "id": f"s1-p{g}-n{n}", "promptId": f"p{g}", "promptTokenIds": prompt,
                "responseTokenIds": response, "actionMask": [1, 1, 1, 0, 0, 1, 1],
                "reward": 1.0 if n % 2 == 0 else 0.0,
            })
    return rows


def write_scored(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def action_logprob_sums(trainer: Trainer, rows: list[dict]) -> torch.Tensor:
    sequences = [{"prompt_token_ids": r["promptTokenIds"], "response_token_ids": r["responseTokenIds"]} for r in rows]
    per_token = trainer.logprobs(sequences)
    return torch.tensor([sum(lp for lp, m in zip(lps, r["actionMask"]) if m) for lps, r in zip(per_token, rows)])


def test_tool_output_logprobs_do_not_change_the_gradient(model_dir):
    model, _ = load_policy(model_dir, torch.device("cpu"))
    rows = toy_rows()
    trajs = [Trajectory(r["id"], r["promptId"], r["promptTokenIds"], r["responseTokenIds"], r["actionMask"], r["reward"]) for r in rows]
    packed = pack(trajs, pad_token_id=0)
    mask = packed.action_mask
    tool = packed.response_mask - mask
    assert tool.sum() > 0
    advantages = torch.linspace(-1, 1, mask.numel()).reshape(mask.shape)

    def gradient(perturb: bool) -> list[torch.Tensor]:
        model.zero_grad()
        logprobs, _ = token_logprobs(model, packed.input_ids, packed.attention_mask)
        old = logprobs.detach() - 0.1
        adv = advantages.clone()
        if perturb:
            # On tool-output tokens only: a different (parameter-dependent) logprob, old logprob and advantage.
            logprobs = logprobs + tool * (3.0 * logprobs + 1.0)
            old = old + tool * 5.0
            adv = adv + tool * 7.0
        per_token, _, _ = policy_loss(logprobs, old, adv, 0.2, 0.28)
        aggregate(per_token, mask, "token", float(mask.sum()), float(len(trajs))).backward()
        return [p.grad.clone() for p in model.parameters()]

    plain, perturbed = gradient(False), gradient(True)
    assert any(g.abs().sum() > 0 for g in plain)
    assert all(torch.equal(a, b) for a, b in zip(plain, perturbed))

    # Control: the same perturbation on model-generated tokens does change the gradient.
    model.zero_grad()
    logprobs, _ = token_logprobs(model, packed.input_ids, packed.attention_mask)
    per_token, _, _ = policy_loss(logprobs + mask * 3.0 * logprobs, logprobs.detach() - 0.1, advantages, 0.2, 0.28)
    aggregate(per_token, mask, "token", float(mask.sum()), float(len(trajs))).backward()
    assert not all(torch.equal(a, p.grad) for a, p in zip(plain, model.parameters()))


def test_grpo_steps_raise_the_logprob_of_rewarded_responses(model_dir, tmp_path):
    rows = toy_rows()
    scored = write_scored(tmp_path / "scored.jsonl", rows)
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    before = action_logprob_sums(trainer, rows)
    for step in range(1, 5):
        metrics = trainer.train_step(step, [scored], str(tmp_path / "ck" / f"step-{step}"), HYPER)
        assert metrics["reused"] is False and metrics["groups_filtered"] == 0
        assert metrics["trained_tokens"] == 8 * 11 and metrics["grad_norm"] > 0
    change = action_logprob_sums(trainer, rows) - before
    rewarded = torch.tensor([r["reward"] == 1.0 for r in rows])
    assert (change[rewarded] > 0).all(), change
    assert (change[~rewarded] < 0).all(), change


def test_all_equal_groups_are_filtered_and_counted(model_dir, tmp_path):
    rows = toy_rows(groups=3)
    for r in rows[8:]:
        r["reward"] = 1.0  # group p2: every sample correct, no signal
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    metrics = trainer.train_step(1, [write_scored(tmp_path / "s.jsonl", rows)], str(tmp_path / "ck" / "step-1"), HYPER)
    assert metrics["groups_filtered"] == 1 and metrics["groups"] == 3
    assert metrics["trained_tokens"] == 8 * 11  # only the two kept groups went through the model


def _state(trainer: Trainer) -> tuple[dict, dict]:
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return weights, trainer.optimizer.state_dict()


def _same_optimizer(a: dict, b: dict) -> bool:
    return all(
        torch.equal(a["state"][i][k], b["state"][i][k]) if torch.is_tensor(a["state"][i][k]) else a["state"][i][k] == b["state"][i][k]
        for i in a["state"] for k in a["state"][i]
    ) and a["state"].keys() == b["state"].keys()


def test_checkpoint_round_trip_is_bit_exact_and_training_continues_identically(model_dir, tmp_path):
    scored = write_scored(tmp_path / "scored.jsonl", toy_rows())
    first = Trainer()
    first.load(str(model_dir), "cpu")
    first.train_step(1, [scored], str(tmp_path / "ck" / "step-1"), HYPER)
    weights, optimizer = _state(first)
    rng = torch.get_rng_state()

    second = Trainer()
    info = second.load(str(tmp_path / "ck" / "step-1"), "cpu")
    assert info["version"] == 1
    loaded_weights, loaded_optimizer = _state(second)
    assert all(torch.equal(weights[k], loaded_weights[k]) for k in weights)
    assert _same_optimizer(optimizer, loaded_optimizer)
    assert torch.equal(torch.get_rng_state(), rng)

    # Step 2 from the live trainer and from the restored one end in the same weights.
    first.train_step(2, [scored], str(tmp_path / "a" / "step-2"), HYPER)
    second.train_step(2, [scored], str(tmp_path / "b" / "step-2"), HYPER)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_step_is_idempotent(model_dir, tmp_path):
    scored = write_scored(tmp_path / "scored.jsonl", toy_rows())
    checkpoint = tmp_path / "ck" / "step-1"
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    first = trainer.train_step(1, [scored], str(checkpoint), HYPER)
    weights, _ = _state(trainer)
    again = trainer.train_step(1, [scored], str(checkpoint), HYPER)
    assert again["reused"] is True and again["loss"] == first["loss"]
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())

    # A fresh process (e.g. after a worker restart) still holding v0 reuses it too, loading the weights.
    fresh = Trainer()
    fresh.load(str(model_dir), "cpu")
    assert fresh.train_step(1, [scored], str(checkpoint), HYPER)["reused"] is True
    assert fresh.version == 1
    assert all(torch.equal(weights[k], v) for k, v in fresh.model.state_dict().items())
    log = (checkpoint.parent / "trainer-steps.log").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1]


def test_a_half_written_checkpoint_is_discarded_and_the_step_redone(model_dir, tmp_path):
    scored = write_scored(tmp_path / "scored.jsonl", toy_rows())
    checkpoint = tmp_path / "ck" / "step-1"
    leftover = tmp_path / "ck" / "step-1.tmp-99999"
    (leftover / "hf").mkdir(parents=True)
    (leftover / "hf" / "model.safetensors").write_bytes(b"truncated")
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    assert trainer.train_step(1, [scored], str(checkpoint), HYPER)["reused"] is False
    assert not leftover.exists()
    assert sorted(p.name for p in checkpoint.iterdir()) == ["hf", "meta.json", "trainer"]


def test_mismatched_lengths_name_the_trajectory_and_write_nothing(model_dir, tmp_path):
    rows = toy_rows()
    rows[5]["actionMask"] = rows[5]["actionMask"][:-1]
    scored = write_scored(tmp_path / "scored.jsonl", rows)
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    weights, _ = {k: v.clone() for k, v in trainer.model.state_dict().items()}, None
    with pytest.raises(TrainerError) as caught:
        trainer.train_step(1, [scored], str(tmp_path / "ck" / "step-1"), HYPER)
    assert caught.value.retryable is False and caught.value.type == "InvalidTrajectory"
    assert rows[5]["id"] in caught.value.message
    assert not (tmp_path / "ck").exists()
    assert trainer.version == 0
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())


@pytest.mark.parametrize("algorithm", ["reinforce_pp_baseline", "ppo"])
def test_other_algorithms_train_with_kl_epochs_and_mini_batches(model_dir, tmp_path, algorithm):
    rows = toy_rows()
    scored = write_scored(tmp_path / "scored.jsonl", rows)
    trainer = Trainer()
    trainer.load(str(model_dir), "cpu")
    hyper = {**HYPER, "algorithm": algorithm, "kl_coef": 0.05, "ppo_epochs": 2, "mini_batches": 2, "loss_aggregation": "sequence"}
    before = action_logprob_sums(trainer, rows)
    for step in (1, 2):
        metrics = trainer.train_step(step, [scored], str(tmp_path / "ck" / f"step-{step}"), hyper)
        assert metrics["optimizer_steps"] == 4
    assert metrics["kl"] > 0  # the policy moved away from the frozen reference
    assert metrics["clip_fraction"] > 0  # later mini-batches are off-policy enough to clip
    change = action_logprob_sums(trainer, rows) - before
    rewarded = torch.tensor([r["reward"] == 1.0 for r in rows])
    assert change[rewarded].mean() > change[~rewarded].mean()
    if algorithm == "ppo":
        assert (tmp_path / "ck" / "step-2" / "trainer" / "critic.pt").exists()
        assert metrics["value_loss"] > 0
