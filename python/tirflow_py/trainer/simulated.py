"""python -m tirflow_py.trainer.simulated: a policy update without a model (trainer.kind: simulated).

For the paper-scale dry run (bench/paperScale.ts): the step's data path is the real trainer's
(the same `settings` record, read and validate every scored.jsonl, the reward-band filter and
sample masks, pack each micro-batch as the experience and update passes do, pack the kept groups
and compute the advantages), then it waits until
`update_s` seconds have passed since it started, as a GPU update would, and commits a small
checkpoint: the policy folder's tokenizer and config files plus simulated.json (a digest of every
packed tensor, so two runs can be compared), written atomically with meta.json last. A step whose
checkpoint is committed is reused, never redone; each committed step appends one line to the step
log, as the torch trainer's do.

One JSON request on stdin; progress lines {"progress": {...}} and one result line on stdout:
  {"ok": true, "reused": bool, "version": N, ...metrics}
  {"ok": false, "error": {"type", "message", "retryable"}}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

import torch

from . import checkpoint as ckpt
from .advantages import grpo_advantages, reinforce_pp_baseline_advantages, token_advantages
from .batch import group_indices, pack, read_scored
from .errors import TrainerError
from .selection import select_for_update
from .settings import METRIC_NAMES, parse_settings

# What the next generate turn needs from a policy folder: the tokenizer and the model's config.
POLICY_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
DIGEST_FILE = "simulated.json"


# The result stream: main() keeps the real stdout for it and sends prints to stderr.
_out: TextIO = sys.stdout


def _send(message: dict) -> None:
    _out.write(json.dumps(message, allow_nan=False) + "\n")
    _out.flush()


def _require(request: dict, name: str):
    if name not in request:
        raise TrainerError("InvalidRequest", f"the simulated update needs `{name}`")
    return request[name]


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _policy_config(policy_dir: Path) -> dict:
    try:
        return json.loads((policy_dir / "config.json").read_text())
    except FileNotFoundError:
        raise TrainerError("MissingModel", f"no config.json in the policy folder {policy_dir}") from None


def _base_model_dir(policy_dir: Path) -> str:
    """The run's base model: the policy folder itself at v0, else what its checkpoint says."""
    parent = policy_dir.parent
    if policy_dir.name == "hf" and ckpt.is_complete(parent):
        return ckpt.read_meta(parent).get("base_model_dir", str(policy_dir))
    return str(policy_dir)


def simulated_update(request: dict) -> dict:
    step = int(_require(request, "step"))
    target = Path(str(_require(request, "checkpoint_dir"))).resolve()
    if ckpt.is_complete(target):
        meta = ckpt.read_meta(target)
        if meta["step"] != step:
            raise TrainerError("CheckpointMismatch", f"{target} holds step {meta['step']}, not step {step}")
        print(f"[trainer simulated] step {step}: checkpoint {target} already committed, reused", file=sys.stderr)
        return {**meta["metrics"], "reused": True, "version": meta["version"]}

    config = parse_settings(request.get("settings"))
    version = int(_require(request, "version"))
    if version != step - 1:
        raise TrainerError(
            "PolicyVersionMismatch", f"step {step} must update policy v{step - 1}, but the request holds v{version}"
        )
    policy_dir = Path(str(_require(request, "policy_dir"))).resolve()
    policy_config = _policy_config(policy_dir)
    paths = [str(p) for p in _require(request, "scored_paths")]
    update_s = float(request.get("update_s", 0.0))
    if update_s < 0:
        raise TrainerError("InvalidRequest", "update_s must be >= 0")
    pad = next(
        (c for c in (policy_config.get("pad_token_id"), policy_config.get("eos_token_id"), 0) if isinstance(c, int)),
        0,
    )

    started = time.perf_counter()
    _send({"progress": {"phase": "read", "step": step}})
    cpu_started = time.process_time()
    trajectories = read_scored(paths, vocab_size=policy_config.get("vocab_size"))
    read_cpu_s = time.process_time() - cpu_started
    bytes_read = sum(Path(p).stat().st_size for p in paths)
    read_s = time.perf_counter() - started
    if config.off_policy_correction != "none" and any(t.behaviour_logprobs is None for t in trajectories):
        raise TrainerError(
            "MissingBehaviourLogprobs",
            f"off-policy correction {config.off_policy_correction!r} needs the engine's behaviour log-probs, "
            "which these trajectories lack: use trainer.offPolicyCorrection: none",
        )
    max_groups = request.get("max_groups")
    selection = select_for_update(trajectories, config, None if max_groups is None else int(max_groups))
    kept, trained, in_loss = selection.kept, selection.trained, selection.in_loss

    digest = hashlib.sha256()
    trained_tokens = action_tokens = 0
    _send({"progress": {"phase": "pack", "step": step, "trajectories": len(in_loss)}})
    pack_started = time.perf_counter()
    # The experience pass: every trained trajectory's micro-batch once, in order.
    for chunk in _chunks(list(range(len(in_loss))), config.micro_batch_size):
        packed = pack([in_loss[i] for i in chunk], pad)
        for tensor in (packed.input_ids, packed.attention_mask, packed.action_mask):
            digest.update(tensor.numpy().tobytes())
    if in_loss:
        # The advantages, over the kept groups padded at once, as the torch trainer computes them
        # (PPO's would need a critic's values: its data path is the same).
        full = pack(kept, 0)
        loss_rows = torch.zeros(len(kept), 1)
        loss_rows[trained] = 1.0
        loss_mask = full.action_mask * loss_rows
        rewards = torch.tensor([t.reward for t in kept])
        groups = group_indices(kept)
        if config.algorithm == "grpo":
            advantages = token_advantages(grpo_advantages(rewards, groups), loss_mask)
        else:
            advantages = reinforce_pp_baseline_advantages(rewards, groups, loss_mask)
        digest.update(advantages.numpy().tobytes())
        del full, advantages, loss_mask
    # The update passes: each epoch's seeded shuffled mini-batches, micro-batch by micro-batch.
    shuffle = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    for _ in range(config.ppo_epochs if in_loss else 0):
        order = torch.randperm(len(in_loss), generator=shuffle)
        for mini in [m.tolist() for m in torch.tensor_split(order, config.mini_batches)]:
            for chunk in _chunks(mini, config.micro_batch_size):
                packed = pack([in_loss[i] for i in chunk], pad)
                trained_tokens += int(packed.attention_mask.sum())
                action_tokens += int(packed.action_mask.sum())
    pack_s = time.perf_counter() - pack_started
    pack_cpu_s = time.process_time() - cpu_started - read_cpu_s
    data_s = time.perf_counter() - started

    _send({"progress": {"phase": "update", "step": step, "simulated_s": update_s}})
    # The update lasts update_s from when it was asked for (`requested_at`, epoch seconds), this
    # process's start-up included: a long-lived GPU trainer would not pay for it again.
    requested_at = float(request.get("requested_at", time.time() - (time.perf_counter() - started)))
    remaining = update_s - (time.time() - requested_at)
    if remaining > 0:
        time.sleep(remaining)
    elapsed = time.perf_counter() - started

    # The torch trainer's metric record (the loss terms are 0: nothing is trained), then the
    # simulation's own measurements.
    metrics = {name: 0 for name in METRIC_NAMES}
    metrics.update(
        learning_rate=config.learning_rate,
        temperature=config.temperature,
        **selection.metrics(version),
        action_tokens=action_tokens,
        trained_tokens=trained_tokens,
        tokens_per_second=trained_tokens / elapsed if elapsed > 0 else 0.0,
        update_seconds=elapsed,
        importance_weight_mean=None,
        importance_weight_max=None,
        importance_weight_truncated_fraction=None,
        logprob_gap=None,
    )
    metrics = {name: metrics[name] for name in METRIC_NAMES}
    metrics.update(
        simulated=True,
        data_seconds=data_s,
        read_seconds=read_s,
        read_cpu_seconds=read_cpu_s,
        pack_seconds=pack_s,
        pack_cpu_seconds=pack_cpu_s,
        bytes_read=bytes_read,
        digest=digest.hexdigest(),
    )
    meta = {
        "step": step,
        "version": step,
        "base_model_dir": _base_model_dir(policy_dir),
        "metrics": metrics,
        "settings": dataclasses.asdict(config),
        "simulated": True,
        "scored_paths": paths,
    }

    def write(temp: Path) -> None:
        hf = temp / "hf"
        hf.mkdir(parents=True)
        for name in POLICY_FILES:
            if (policy_dir / name).is_file():
                shutil.copyfile(policy_dir / name, hf / name)
        (hf / DIGEST_FILE).write_text(json.dumps({"step": step, "digest": metrics["digest"]}) + "\n")

    _send({"progress": {"phase": "checkpoint", "step": step}})
    if ckpt.write_atomically(target, write, meta):
        ckpt.append_step_log(target.parent, {"step": step, "checkpoint": target.name, "simulated": True})
    print(
        f"[trainer simulated] step {step}: {len(trajectories)} trajectories ({bytes_read / 1e6:.1f} MB) read in "
        f"{read_s:.2f} s, packed in {pack_s:.2f} s, {trained_tokens} tokens, update {elapsed:.1f} s",
        file=sys.stderr,
    )
    return {**metrics, "reused": False, "version": step}


def main() -> int:
    global _out
    _out = sys.stdout
    sys.stdout = sys.stderr  # library prints must never corrupt the result stream
    try:
        request = json.loads(sys.stdin.read() or "{}")
        if not isinstance(request, dict):
            raise TrainerError("InvalidRequest", "the request must be a JSON object")
        _send({"ok": True, **simulated_update(request)})
        return 0
    except json.JSONDecodeError as err:
        _send({"ok": False, "error": {"type": "InvalidRequest", "message": str(err), "retryable": False}})
    except TrainerError as err:
        _send({"ok": False, "error": err.to_json()})
    except Exception as err:  # noqa: BLE001 - every failure becomes a result line
        import traceback

        traceback.print_exc(file=sys.stderr)
        _send({"ok": False, "error": {"type": type(err).__name__, "message": str(err), "retryable": True}})
    return 1


if __name__ == "__main__":
    sys.exit(main())
