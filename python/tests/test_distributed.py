"""The trainer under `torchrun --nproc-per-node 2` (CPU, gloo, FSDP2) against the single process.

One torchrun session (module fixture; a launch costs ~20 s of imports on 2 cores) runs four
policy updates covering every code path (GRPO with 2 mini-batches, Reinforce++ with a KL
reference, PPO with its critic), a repeated step, a load of a single-process checkpoint and a
crash of rank 0 mid-checkpoint. The same updates run in this process with the single-process
Trainer; the tests compare the two. 9 trajectories over 2 ranks with micro-batches of 2 leave
one rank a sequence short, so the padding micro-batches are exercised too.

Tolerances: float32 sums in another order (each rank's slice, FSDP's reduce-scatter) moved the
loss by <= 8e-8, the grad norm by <= 2e-6 and the weights by <= 1.5e-5 after Adam steps of lr
3e-3 (measured). The bounds are several times that and far below what a wrong update gives: a
rank's gradient left out turns the update (weights off by ~lr = 3e-3), and a gradient scaled by
the rank count, which Adam and clipping would hide in the weights, shows in the grad norm.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tirflow_py.fixtures import make_tiny_random_model
from tirflow_py.trainer.settings import default_settings
from tirflow_py.trainer.trainer import Trainer

PYTHON_DIR = Path(__file__).resolve().parents[1]
HYPERS = {
    1: default_settings(algorithm="grpo", learning_rate=3e-3, micro_batch_size=2, mini_batches=2, device="cpu"),
    2: default_settings(algorithm="reinforce_pp_baseline", learning_rate=3e-3, kl_coef=0.05, micro_batch_size=2,
                        device="cpu"),
    3: default_settings(algorithm="ppo", learning_rate=3e-3, critic_learning_rate=3e-3, kl_coef=0.05,
                        micro_batch_size=4, device="cpu"),
    4: default_settings(algorithm="ppo", learning_rate=3e-3, critic_learning_rate=3e-3, kl_coef=0.05,
                        micro_batch_size=2, device="cpu"),
    5: default_settings(algorithm="grpo", learning_rate=3e-3, micro_batch_size=2, device="cpu"),
}
COMPARED = ("loss", "kl", "clip_fraction", "entropy", "value_loss")
LOSS_ATOL = 1e-6
GRAD_NORM_RTOL = 1e-5
WEIGHT_ATOL = 1e-4
LOGPROB_ATOL = 1e-4


def toy_rows() -> list[dict]:
    """3 groups x 3 samples, responses of 5-7 tokens with a tool-output span, mixed rewards."""
    rng = random.Random(0)
    rows = []
    for g in range(3):
        prompt = [rng.randrange(1, 300) for _ in range(4)]
        for n in range(3):
            rows.append({
                "id": f"p{g}-n{n}", "promptId": f"p{g}", "promptTokenIds": prompt,
                "responseTokenIds": [rng.randrange(1, 300) for _ in range(5 + n)],
                "actionMask": [1, 1, 0, 1, 1] + [1] * n, "reward": float(n % 2),
            })
    return rows


def sequences(rows: list[dict]) -> list[dict]:
    return [{"prompt_token_ids": r["promptTokenIds"], "response_token_ids": r["responseTokenIds"]} for r in rows]


def torchrun(requests: list[dict], env: dict) -> subprocess.CompletedProcess:
    # A c10d rendezvous on 127.0.0.1 port 0: the OS picks a free port, nothing leaves loopback.
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:0", "-m", "tirflow_py.trainer",
    ]
    return subprocess.run(
        command, input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True, text=True,
        cwd=PYTHON_DIR, env={**os.environ, "GLOO_SOCKET_IFNAME": "lo", **env}, timeout=300,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("distributed")
    model = make_tiny_random_model(root / "tiny", seed=0)
    rows = toy_rows()
    scored = root / "scored.jsonl"
    scored.write_text("".join(json.dumps(r) + "\n" for r in rows))

    # The single-process reference, in this process.
    single = Trainer()
    single.load(str(model), "cpu")
    single_metrics, single_logprobs = {}, {}
    for step in (1, 2, 3, 4):
        single_metrics[step] = single.train_step(step, [str(scored)], str(root / "S" / f"step-{step}"), HYPERS[step])
        single_logprobs[step] = single.logprobs(sequences(rows))

    def step(request_id: int, step: int, into: str, **extra) -> dict:
        return {"id": request_id, "cmd": "train_step", "step": step, "scored_paths": [str(scored)],
                "checkpoint_dir": str(root / into / f"step-{step}"), "settings": HYPERS[step], **extra}

    process = torchrun([
        {"id": 1, "cmd": "load", "path": str(model), "device": "cpu"},
        step(2, 1, "D", export_onnx=True),
        step(3, 2, "D"),
        step(4, 3, "D"),
        step(5, 3, "D"),  # committed already: reused, not trained again
        {"id": 6, "cmd": "logprobs", "sequences": sequences(rows)},
        {"id": 7, "cmd": "ping"},
        {"id": 8, "cmd": "load", "path": str(root / "S" / "step-3"), "device": "cpu"},  # single-process checkpoint
        step(9, 4, "D2"),
        {"id": 10, "cmd": "logprobs", "sequences": sequences(rows)},
        step(11, 5, "D2"),  # rank 0 dies halfway through this checkpoint (fault switch)
        {"id": 12, "cmd": "shutdown"},
    ], env={"TIRFLOW_FAULT_TRAINER_CRASH_AT_STEP": "5"})
    lines = process.stdout.splitlines()
    replies = {m["id"]: m for m in map(json.loads, lines) if "ok" in m}
    return dict(root=root, model=model, scored=str(scored), rows=rows, process=process, lines=lines,
                replies=replies, single_metrics=single_metrics, single_logprobs=single_logprobs)


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "hf" / "model.safetensors")


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def assert_metrics_match(single: dict, distributed: dict) -> None:
    assert distributed["ok"] and distributed["reused"] is False
    for name in COMPARED:
        assert abs(single[name] - distributed[name]) <= LOSS_ATOL, (name, single[name], distributed[name])
    assert distributed["grad_norm"] == pytest.approx(single["grad_norm"], rel=GRAD_NORM_RTOL)
    for name in ("trained_tokens", "action_tokens", "optimizer_steps", "trajectories", "groups_filtered"):
        assert single[name] == distributed[name], name


def test_rank_0_alone_speaks_the_protocol(runs):
    assert all(line.startswith("{") for line in runs["lines"]), runs["lines"]  # nothing else on stdout
    replies = runs["replies"]
    assert replies[1]["ok"] and replies[1]["world_size"] == 2
    assert replies[7]["world_size"] == 2 and replies[7]["version"] == 3
    assert [m["progress"]["phase"] for m in map(json.loads, runs["lines"]) if m.get("id") == 2 and "progress" in m] == [
        "experience", "update", "update", "checkpoint"
    ]


def test_each_update_equals_the_single_process_update(runs):
    replies, single, root = runs["replies"], runs["single_metrics"], runs["root"]
    for request_id, step in ((2, 1), (3, 2), (4, 3)):
        assert_metrics_match(single[step], replies[request_id])
        assert max_difference(weights(root / "S" / f"step-{step}"), weights(root / "D" / f"step-{step}")) <= WEIGHT_ATOL
    assert replies[3]["kl"] > 0 and replies[4]["value_loss"] > 0  # the reference and critic did take part
    for got, want in zip(replies[6]["logprobs"], runs["single_logprobs"][3]):
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=LOGPROB_ATOL)


def test_checkpoints_hold_the_full_state_in_the_single_process_format(runs):
    root = runs["root"]
    for step in (1, 2, 3):
        for name in ("optimizer.pt", "critic_optimizer.pt"):
            path = root / "S" / f"step-{step}" / "trainer" / name
            if not path.exists():
                assert not (root / "D" / f"step-{step}" / "trainer" / name).exists()
                continue
            single, distributed = torch.load(path), torch.load(root / "D" / f"step-{step}" / "trainer" / name)
            assert single["param_groups"] == distributed["param_groups"]
            assert single["state"].keys() == distributed["state"].keys()
            for index, entries in single["state"].items():
                for key, value in entries.items():
                    assert value.shape == distributed["state"][index][key].shape, (step, name, index, key)
                    assert torch.allclose(value, distributed["state"][index][key], rtol=1e-2, atol=1e-7)
    critic = torch.load(root / "D" / "step-3" / "trainer" / "critic.pt")
    assert critic.keys() == torch.load(root / "S" / "step-3" / "trainer" / "critic.pt").keys()
    # A tied LM head is stored once, as save_pretrained stores it for the unsharded model.
    assert weights(root / "D" / "step-1").keys() == weights(root / "S" / "step-1").keys()


def test_checkpoints_are_written_once_by_rank_0(runs):
    replies, root = runs["replies"], runs["root"]
    assert replies[5]["ok"] and replies[5]["reused"] is True and replies[5]["loss"] == replies[4]["loss"]
    log = [json.loads(line) for line in (root / "D" / "trainer-steps.log").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3]
    assert {entry["pid"] for entry in log} == {replies[7]["pid"]}  # rank 0 answers ping and writes
    assert (root / "D" / "step-1" / "onnx").is_dir()  # exported by rank 0, inside the checkpoint
    assert sorted(p.name for p in (root / "D").iterdir()) == ["step-1", "step-2", "step-3", "trainer-steps.log"]


def test_checkpoints_move_between_single_process_and_torchrun(runs):
    replies, root, single = runs["replies"], runs["root"], runs["single_metrics"]
    # torchrun continued from the single process's step-3 checkpoint (optimizer, critic, its optimizer).
    assert replies[8]["ok"] and replies[8]["version"] == 3
    assert_metrics_match(single[4], replies[9])
    assert max_difference(weights(root / "S" / "step-4"), weights(root / "D2" / "step-4")) <= WEIGHT_ATOL
    for got, want in zip(replies[10]["logprobs"], runs["single_logprobs"][4]):
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=LOGPROB_ATOL)
    # And the single process continues from torchrun's step-3 checkpoint.
    resumed = Trainer()
    resumed.load(str(root / "D" / "step-3"), "cpu")
    metrics = resumed.train_step(4, [runs["scored"]], str(root / "R" / "step-4"), HYPERS[4])
    assert abs(metrics["loss"] - single[4]["loss"]) <= LOSS_ATOL
    assert max_difference(weights(root / "S" / "step-4"), weights(root / "R" / "step-4")) <= WEIGHT_ATOL


def test_a_rank_0_crash_mid_checkpoint_stops_the_group_and_the_retry_commits_once(runs):
    process, replies, root = runs["process"], runs["replies"], runs["root"]
    assert process.returncode != 0, process.stderr[-2000:]
    assert 11 not in replies and 12 not in replies  # the step never answered
    assert "fault injection" in process.stderr
    assert not (root / "D2" / "step-5").exists()
    leftovers = list((root / "D2").glob("step-5.tmp-*"))
    assert [p.name for p in leftovers] == [f"step-5.tmp-{replies[7]['pid']}"]  # rank 0's, alone
    retry = Trainer()
    retry.load(str(root / "D2" / "step-4"), "cpu")
    assert retry.train_step(5, [runs["scored"]], str(root / "D2" / "step-5"), HYPERS[5])["reused"] is False
    assert not list((root / "D2").glob("step-5.tmp-*"))
    log = [json.loads(line)["step"] for line in (root / "D2" / "trainer-steps.log").read_text().splitlines()]
    assert log == [4, 5]
