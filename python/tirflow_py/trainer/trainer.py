"""The trainer's state (policy, optimizer, optional critic and reference) and its commands.

One policy update, top to bottom (train_step):
  find a committed step-N checkpoint? -> load it and return its metrics (exactly once per step)
  read + validate every trajectory -> dynamic filtering (the reward band) -> sample masks
  -> experience: old logprobs (and values, ref logprobs), advantages, off-policy weights
  -> _update: for each epoch, for each shuffled mini-batch: _micro_batch_loss (forward, loss,
  backward) per micro-batch, then _optimizer_step (clip, AdamW) -> UpdateStats
  -> atomic checkpoint (hf/, trainer/, onnx/, meta.json) -> step log.

Under torchrun (distributed.py) every rank runs these same methods on its FSDP shard; `self.dist`
marks the few places that differ: each rank's slice of a batch, gathers, rank-0-only writes.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import checkpoint as ckpt
from .advantages import gae_advantages, grpo_advantages, masked_whiten, reinforce_pp_baseline_advantages
from .advantages import token_advantages
from .batch import Trajectory, group_indices, pack, read_scored
from .distributed import Distributed
from .errors import TrainerError
from .losses import aggregate, behaviour_weights, k3_kl, policy_loss, value_loss
from .model import Critic, autocast, load_policy, pad_token_id, resolve_device, token_logprobs
from .selection import select_for_update
from .settings import METRIC_NAMES, actor_critic, parse_settings
from .stats import UpdateStats

Progress = Callable[[dict], None]


# Under torchrun every rank logs: name the rank.
_LOG_PREFIX = f"[trainer rank {os.environ['RANK']}]" if "WORLD_SIZE" in os.environ else "[trainer]"


def log(message: str) -> None:
    # One write per line: with PYTHONUNBUFFERED, print() writes the text and its newline in two
    # calls, and torchrun ranks sharing one stderr pipe then interleave their lines.
    sys.stderr.write(f"{_LOG_PREFIX} {message}\n")
    sys.stderr.flush()


def _pad_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """Per-trajectory 1-D tensors (length <= width) -> (B, width), zero padded."""
    out = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        out[i, : row.numel()] = row[:width]
    return out


@dataclass
class MiniBatchCounts:
    """A mini-batch's action tokens and sequences: every micro-batch's loss is divided by them."""

    tokens: float
    sequences: float


@dataclass
class UpdateBatch:
    """The trajectories that enter the loss and, per trajectory, its (T_i,) rows: old, ref,
    values, advantages, returns, weights (off-policy correction; 1 with none)."""

    trajectories: list[Trajectory]
    rows: dict[str, list[torch.Tensor] | None]
    off_policy: dict

    def counts(self, mini: list[int]) -> MiniBatchCounts:
        tokens = float(sum(sum(self.trajectories[i].action_mask) for i in mini))
        return MiniBatchCounts(tokens=max(1.0, tokens), sequences=float(len(mini)))


def _no_behaviour() -> dict:
    return dict(importance_weight_mean=None, importance_weight_max=None,
                importance_weight_truncated_fraction=None, logprob_gap=None)


def _older_checkpoint_metrics() -> dict:
    return {**{name: 0 for name in METRIC_NAMES}, **_no_behaviour()}


def _require_behaviour_logprobs(trajectories: list[Trajectory], config) -> None:
    if config.off_policy_correction == "none":
        return
    lacking = [t.id for t in trajectories if t.behaviour_logprobs is None]
    if lacking:
        raise TrainerError(
            "MissingBehaviourLogprobs",
            f"off-policy correction {config.off_policy_correction!r} needs the engine's behaviour log-probs, "
            f"but {len(lacking)} trajectories have none (first: {lacking[0]}); they were generated before "
            "engines recorded them. Use trainer.offPolicyCorrection: none for these rollouts.",
            retryable=False,
        )


def _off_policy_weights(trajectories: list[Trajectory], old: list[torch.Tensor], config) -> tuple[list, dict]:
    """Per trajectory (T_i,) loss weights of the configured correction, and the statistics of the
    raw importance weights π_old/π_behaviour and of |behaviour - trainer| over model tokens
    (null when no trajectory carries behaviour log-probs)."""
    weights, raw_values, gaps = [], [], []
    for t, old_row in zip(trajectories, old):
        if t.behaviour_logprobs is None:
            weights.append(torch.ones_like(old_row))
            continue
        p = len(t.prompt_token_ids)
        behaviour = torch.zeros_like(old_row)
        behaviour[p - 1 :] = torch.tensor(t.behaviour_logprobs, dtype=old_row.dtype)
        model_token = torch.zeros_like(old_row, dtype=torch.bool)
        model_token[p - 1 :] = torch.tensor(t.action_mask, dtype=torch.bool)
        weight, raw = behaviour_weights(old_row, behaviour, config.off_policy_correction, config.importance_weight_cap)
        weights.append(torch.where(model_token, weight, torch.ones_like(weight)))
        raw_values.append(raw[model_token])
        gaps.append((behaviour - old_row).abs()[model_token])
    if not raw_values or sum(r.numel() for r in raw_values) == 0:
        return weights, _no_behaviour()
    raw, gap = torch.cat(raw_values), torch.cat(gaps)
    return weights, dict(
        importance_weight_mean=float(raw.mean()),
        importance_weight_max=float(raw.max()),
        importance_weight_truncated_fraction=float((raw > config.importance_weight_cap).float().mean()),
        logprob_gap=float(gap.mean()),
    )


class Trainer:
    def __init__(self, progress: Progress | None = None, dist: Distributed | None = None):
        self.progress: Progress = progress or (lambda _event: None)
        self.dist = dist or Distributed()
        self.model = None
        self.tokenizer = None
        self.device = torch.device("cpu")
        self.optimizer: torch.optim.Optimizer | None = None
        self.critic: Critic | None = None
        self.critic_optimizer: torch.optim.Optimizer | None = None
        self.reference = None
        self.version: int | None = None
        self.step: int | None = None
        self.base_model_dir: str | None = None
        self.source: str | None = None  # the HF dir or checkpoint dir the state came from
        self.last_metrics: dict = {}

    # ---- state ------------------------------------------------------------------------------

    def _release(self) -> None:
        self.model = self.optimizer = self.critic = self.critic_optimizer = self.reference = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _require_model(self) -> None:
        if self.model is None:
            raise TrainerError("NotLoaded", "no policy loaded: send `load` first", retryable=True)

    def load(self, path: str, device: str = "auto", version: int = 0) -> dict:
        """Loads a Hugging Face folder (as policy `version`, default 0 = base model) or a tirflow
        checkpoint dir (or its hf/ folder): weights, optimizer, critic and RNG state."""
        target = Path(path).resolve()
        if target.name == "hf" and ckpt.is_complete(target.parent):
            target = target.parent
        hf_dir = target / "hf" if ckpt.is_complete(target) else target
        if not (hf_dir / "config.json").is_file():
            # Checked before the current policy is released: a bad path leaves the trainer as it was.
            raise TrainerError("MissingModel", f"no Hugging Face model or tirflow checkpoint at {target}")
        new_device = self.dist.device(resolve_device(device))
        self._release()
        self.device = new_device
        if ckpt.is_complete(target):
            meta = ckpt.read_meta(target)
            model, self.tokenizer = load_policy(target / "hf", self.device)
            self.model = self.dist.shard(model)
            state = target / "trainer"
            if (state / "optimizer.pt").exists():
                self.optimizer = self._new_optimizer(self.model.parameters())
                self.dist.load_optimizer_state(
                    self.optimizer, torch.load(state / "optimizer.pt", map_location=self.device)
                )
            if (state / "critic.pt").exists():
                critic = Critic(meta["base_model_dir"]).to(self.device)
                critic.load_state_dict(torch.load(state / "critic.pt", map_location=self.device))
                self.critic = self.dist.shard(critic)
                self.critic_optimizer = self._new_optimizer(self.critic.parameters())
                self.dist.load_optimizer_state(
                    self.critic_optimizer, torch.load(state / "critic_optimizer.pt", map_location=self.device)
                )
            if (state / "rng.pt").exists():
                ckpt.restore_rng(torch.load(state / "rng.pt", weights_only=False))
            self.version, self.step = meta["version"], meta["step"]
            self.base_model_dir = meta["base_model_dir"]
            self.last_metrics = meta.get("metrics", {})
        else:
            model, self.tokenizer = load_policy(target, self.device)
            self.model = self.dist.shard(model)
            self.version, self.step = version, version
            self.base_model_dir = str(target)
            self.last_metrics = {}
        self.source = str(target)
        log(f"loaded policy v{self.version} from {target} on {self.device}")
        return self.describe()

    def describe(self) -> dict:
        return {
            "version": self.version,
            "step": self.step,
            "source": self.source,
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0,
            "world_size": self.dist.world,
        }

    def _new_optimizer(self, parameters, lr: float = 1e-6) -> torch.optim.Optimizer:
        return torch.optim.AdamW(parameters, lr=lr, fused=self.device.type == "cuda")

    def _configure_optimizers(self, config) -> None:
        """Creates the optimizers on first use; applies this step's settings (lr may change
        between steps by operator update, the optimizer's moments carry over)."""
        if self.optimizer is None:
            self.optimizer = self._new_optimizer(self.model.parameters(), config.learning_rate)
        if actor_critic(config):
            if self.critic is None:
                self.critic = self.dist.shard(Critic(self.base_model_dir).to(self.device))
            if self.critic_optimizer is None:
                self.critic_optimizer = self._new_optimizer(self.critic.parameters())
        rates = ((self.optimizer, config.learning_rate), (self.critic_optimizer, config.critic_learning_rate))
        for optimizer, lr in rates:
            for group in optimizer.param_groups if optimizer is not None else []:
                group["lr"] = lr
                group["betas"] = (config.adam_beta1, config.adam_beta2)
                group["weight_decay"] = config.weight_decay
        if config.kl_coef > 0 and self.reference is None:
            # Only when KL is on: a frozen copy of the base model costs a second model's memory.
            reference, _ = load_policy(self.base_model_dir, self.device)
            self.reference = self.dist.shard(reference.requires_grad_(False))

    # ---- train_step -------------------------------------------------------------------------

    def train_step(
        self,
        step: int,
        scored_paths: list[str],
        checkpoint_dir: str,
        settings: dict | None = None,
        export_onnx: bool = False,
        max_groups: int | None = None,
    ) -> dict:
        """One RL step. `max_groups`: train on at most this many kept groups, the first in the
        scored files' order (a refilled step keeps its batch at the configured size)."""
        target = Path(checkpoint_dir).resolve()
        if self.dist.decide(ckpt.is_complete(target)):
            return self._reuse(step, target, export_onnx)
        self._require_model()
        config = parse_settings(settings)
        if self.version != step - 1:
            raise TrainerError(
                "PolicyVersionMismatch",
                f"step {step} must update policy v{step - 1}, but the trainer holds v{self.version}",
            )
        ckpt.maybe_stall(step)
        # Validation before anything is trained or written.
        trajectories = read_scored(scored_paths, vocab_size=self.model.get_input_embeddings().num_embeddings)
        _require_behaviour_logprobs(trajectories, config)
        if self.dist.is_writer:
            ckpt.remove_partial(target)
        device = self.dist.device(resolve_device(config.device))
        if device != self.device:
            if self.dist.world > 1:
                # Sharded parameters live on their rank's device: moving means reloading.
                raise TrainerError("DeviceMismatch", f"the sharded policy is on {self.device}, not {device}")
            self.device = device
            self.model.to(device)
        self._configure_optimizers(config)
        started = time.perf_counter()
        selection = select_for_update(trajectories, config, max_groups)
        kept, trained, groups_filtered = selection.kept, selection.trained, selection.groups_filtered
        batch = self._experience(kept, trained, config, step) if trained else None
        metrics = self._update(batch, config, step) if batch else UpdateStats().finish(self.dist)
        elapsed = time.perf_counter() - started
        metrics.update(
            learning_rate=config.learning_rate,
            temperature=config.temperature,
            **selection.metrics(self.version),
            tokens_per_second=metrics["trained_tokens"] / elapsed if elapsed > 0 else 0.0,
            update_seconds=elapsed,
            **(batch.off_policy if batch else _no_behaviour()),
        )
        metrics = {name: metrics[name] for name in METRIC_NAMES}  # the record, in its defined order
        self.version = self.step = step
        meta = {
            "step": step,
            "version": step,
            "base_model_dir": self.base_model_dir,
            "metrics": metrics,
            "settings": dataclasses.asdict(config),
            "scored_paths": scored_paths,
        }
        self.progress({"phase": "checkpoint", "step": step})
        state = self._gather_state()
        if self.dist.is_writer:
            if ckpt.write_atomically(target, lambda temp: self._write_state(temp, state, export_onnx), meta):
                ckpt.append_step_log(target.parent, {"step": step, "checkpoint": target.name})
        self.source = str(target)
        self.last_metrics = metrics
        log(
            f"step {step}: loss {metrics['loss']:.4f} grad_norm {metrics['grad_norm']:.4f} "
            f"clip {metrics['clip_fraction']:.3f} entropy {metrics['entropy']:.3f} kl {metrics['kl']:.4f} "
            f"filtered {groups_filtered} masked {len(kept) - len(trained)} tokens/s {metrics['tokens_per_second']:.0f}"
        )
        return {**metrics, "reused": False, "version": step}

    def _reuse(self, step: int, target: Path, export_onnx: bool) -> dict:
        meta = ckpt.read_meta(target)
        if meta["step"] != step:
            raise TrainerError("CheckpointMismatch", f"{target} holds step {meta['step']}, not step {step}")
        if self.source != str(target):
            self.load(str(target), str(self.device) if self.model is not None else "auto")
        if export_onnx and self.dist.is_writer and not (target / "onnx").exists():
            self.export_onnx(str(target / "hf"), str(target / "onnx"))
        log(f"step {step}: checkpoint {target} already committed, reused without training")
        # A checkpoint committed by an older trainer lacks the newer metrics: they read 0 / null.
        recorded = {**_older_checkpoint_metrics(), **meta["metrics"]}
        return {**{name: recorded[name] for name in METRIC_NAMES}, "reused": True, "version": meta["version"]}

    def _forward(self, trajectories: list[Trajectory], temperature: float, with_entropy: bool = False):
        packed = pack(trajectories, pad_token_id(self.tokenizer, self.model)).to(self.device)
        with autocast(self.device):
            logprobs, entropy = token_logprobs(
                self.model, packed.input_ids, packed.attention_mask, temperature, with_entropy
            )
        return packed, logprobs, entropy

    @torch.no_grad()
    def _experience(self, kept: list[Trajectory], trained: list[int], config, step: int) -> "UpdateBatch":
        """Everything the loss needs, per trained trajectory (T_i = length - 1 columns, on CPU):
        old log-probs of the policy as it is before the update (the proximal policy; the engine's
        are another numeric path and possibly an older version), reference log-probs and critic
        values when used, advantages (and PPO returns), and the off-policy weights."""
        self.progress({"phase": "experience", "step": step, "trajectories": len(trained)})
        trajectories = [kept[i] for i in trained]
        rows: dict[str, dict[int, torch.Tensor]] = {"old": {}, "ref": {}, "values": {}}
        for chunk, weight in self.dist.local_chunks(list(range(len(trajectories))), config.micro_batch_size):
            trajs = [trajectories[i] for i in chunk]
            packed, old, _ = self._forward(trajs, config.temperature)
            ref = values = None
            if self.reference is not None:
                with autocast(self.device):
                    ref, _ = token_logprobs(self.reference, packed.input_ids, packed.attention_mask, config.temperature)
            if self.critic is not None and actor_critic(config):
                with autocast(self.device):
                    values = self.critic(packed.input_ids, packed.attention_mask)
            if weight == 0:  # a padding chunk: its rows belong to another rank
                continue
            for row, (i, t) in enumerate(zip(chunk, trajs)):
                width = t.length - 1
                rows["old"][i] = old[row, :width].float().cpu()
                if ref is not None:
                    rows["ref"][i] = ref[row, :width].float().cpu()
                if values is not None:
                    rows["values"][i] = values[row, :width].float().cpu()
        rows = self.dist.gather_rows(rows)
        per_row = {name: [by_index[i] for i in sorted(by_index)] for name, by_index in rows.items()}
        per_row["advantages"], per_row["returns"] = self._advantages(kept, trained, config, per_row)
        per_row["weights"], off_policy = _off_policy_weights(trajectories, per_row["old"], config)
        return UpdateBatch(trajectories, per_row, off_policy)

    def _advantages(self, kept: list[Trajectory], trained: list[int], config, rows: dict) -> tuple:
        """Per trained trajectory advantages (and PPO returns), each (T_i,). The group baselines
        count every trajectory of the kept groups (a masked one was sampled all the same); the
        whitening counts only the action tokens that enter the loss."""
        full = pack(kept, 0)
        in_loss = torch.zeros(len(kept), 1)
        in_loss[trained] = 1.0
        loss_mask = full.action_mask * in_loss
        rewards = torch.tensor([t.reward for t in kept])
        groups = group_indices(kept)
        returns = None
        if config.algorithm == "grpo":
            advantages = token_advantages(grpo_advantages(rewards, groups), loss_mask)
        elif config.algorithm == "reinforce_pp_baseline":
            advantages = reinforce_pp_baseline_advantages(rewards, groups, loss_mask)
        else:
            values = torch.zeros_like(loss_mask)
            values[trained] = _pad_rows(rows["values"], loss_mask.shape[1])
            advantages, returns = gae_advantages(
                values, rewards, loss_mask, full.last_action_index, config.gae_gamma, config.gae_lambda
            )
            advantages = masked_whiten(advantages, loss_mask)
        widths = [kept[i].length - 1 for i in trained]
        per_adv = [advantages[i, :w] for i, w in zip(trained, widths)]
        per_ret = [returns[i, :w] for i, w in zip(trained, widths)] if returns is not None else None
        return per_adv, per_ret

    # ---- the update: one screen -----------------------------------------------------------------

    def _update(self, batch: "UpdateBatch", config, step: int) -> dict:
        """ppo_epochs passes over the batch in seeded shuffled mini-batches; one optimizer step per
        mini-batch, its gradient accumulated over micro-batches."""
        stats = UpdateStats()
        shuffle = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        total = config.ppo_epochs * config.mini_batches
        self.model.train()
        for _epoch in range(config.ppo_epochs):
            order = torch.randperm(len(batch.trajectories), generator=shuffle)
            for mini in [m.tolist() for m in torch.tensor_split(order, config.mini_batches)]:
                if not mini:
                    continue
                counts = batch.counts(mini)
                self._zero_grad()
                for micro, weight in self.dist.local_chunks(mini, config.micro_batch_size):
                    stats.add_micro_batch(self._micro_batch_loss(batch, micro, weight, counts, config))
                stats.add_optimizer_step(self._optimizer_step(config, step))
                self.progress({"phase": "update", "step": step, "optimizer_step": stats.passes, "of": total})
        self.model.eval()
        self.optimizer.zero_grad(set_to_none=True)
        return stats.finish(self.dist)

    def _micro_batch_loss(self, batch: "UpdateBatch", micro: list[int], weight: float, counts, config) -> dict:
        """Forward, loss and backward of one micro-batch, its loss divided by the whole mini-batch's
        token (or sequence) count so the accumulated gradient is the mini-batch's. weight 0 marks
        a padding micro-batch (distributed.py): it joins FSDP's collectives and adds nothing.
        Returns its weighted sums for UpdateStats."""
        packed, logprobs, entropy = self._forward([batch.trajectories[i] for i in micro], config.temperature, True)
        mask = packed.action_mask

        def rows(name: str) -> torch.Tensor:
            return _pad_rows([batch.rows[name][i] for i in micro], logprobs.shape[1]).to(self.device)

        def mean(per_token: torch.Tensor) -> torch.Tensor:
            return aggregate(per_token, mask, config.loss_aggregation, counts.tokens, counts.sequences)

        per_token, clipped, dual_clipped = policy_loss(
            logprobs, rows("old"), rows("advantages"), config.eps_low, config.eps_high, config.dual_clip
        )
        loss = mean(per_token * rows("weights"))
        kl_sum = 0.0
        if self.reference is not None:
            kl = k3_kl(logprobs, rows("ref"))
            if config.kl_coef > 0:
                loss = loss + config.kl_coef * mean(kl)
            kl_sum = float((kl.detach() * mask).sum())
        self.dist.backward(loss * weight)
        critic_loss = torch.zeros(())
        if actor_critic(config):
            with autocast(self.device):
                values = self.critic(packed.input_ids, packed.attention_mask)
            critic_loss = mean(value_loss(values, rows("values"), rows("returns"), config.value_clip))
            self.dist.backward(critic_loss * weight)
        return dict(
            loss=weight * float(loss.detach()),
            value_loss=weight * float(critic_loss.detach()),
            kl=weight * kl_sum,
            clipped=weight * float((clipped.float() * mask).sum()),
            dual_clipped=weight * float((dual_clipped.float() * mask).sum()),
            entropy=weight * float((entropy * mask).sum()),
            tokens=weight * float(mask.sum()),
            trained_tokens=weight * float(packed.attention_mask.sum()),
        )

    def _zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.critic_optimizer is not None:
            self.critic_optimizer.zero_grad(set_to_none=True)

    def _optimizer_step(self, config, step: int) -> float | None:
        """Clips and applies the accumulated gradient; the pre-clip grad norm, or None when it is not
        finite and the step is skipped (it would poison the weights for the rest of the run)."""
        grad_norm = self.dist.clip_grad_norm(self.model.parameters(), config.max_grad_norm)
        if not math.isfinite(grad_norm):
            log(f"step {step}: non-finite grad norm, optimizer step skipped")
            return None
        self.optimizer.step()
        if self.critic_optimizer is not None and actor_critic(config):
            self.dist.clip_grad_norm(self.critic.parameters(), config.max_grad_norm)
            self.critic_optimizer.step()
        return grad_norm

    # ---- persistence ------------------------------------------------------------------------

    def _gather_state(self) -> dict:
        """The full (unsharded) state to checkpoint. Under torchrun every rank joins the gathers
        and only rank 0 gets the tensors; alone, the live state dicts."""
        return {
            "model": self.dist.full_state_dict(self.model),
            "optimizer": self.dist.full_optimizer_state(self.optimizer) if self.optimizer is not None else None,
            "critic": self.dist.full_state_dict(self.critic) if self.critic is not None else None,
            "critic_optimizer": (
                self.dist.full_optimizer_state(self.critic_optimizer) if self.critic is not None else None
            ),
        }

    def _write_state(self, temp: Path, state: dict, export_onnx: bool) -> None:
        hf = temp / "hf"
        self.model.save_pretrained(hf, safe_serialization=True, state_dict=state["model"])
        self.tokenizer.save_pretrained(hf)
        if self.model.generation_config is not None:
            self.model.generation_config.save_pretrained(hf)
        trainer_dir = temp / "trainer"
        trainer_dir.mkdir(parents=True)
        if state["optimizer"] is not None:
            torch.save(state["optimizer"], trainer_dir / "optimizer.pt")
        if state["critic"] is not None:
            torch.save(state["critic"], trainer_dir / "critic.pt")
            torch.save(state["critic_optimizer"], trainer_dir / "critic_optimizer.pt")
        torch.save(ckpt.rng_state(), trainer_dir / "rng.pt")
        if export_onnx:
            self._export_into(hf, temp / "onnx")

    def save(self, checkpoint_dir: str) -> dict:
        """Checkpoints the current state (as policy v{version}); a committed dir is left as is."""
        self._require_model()
        target = Path(checkpoint_dir).resolve()
        if self.dist.decide(ckpt.is_complete(target)):
            return {"saved": False, "path": str(target), **self.describe()}
        meta = {
            "step": self.step,
            "version": self.version,
            "base_model_dir": self.base_model_dir,
            "metrics": self.last_metrics,
        }
        state = self._gather_state()
        saved = self.dist.is_writer and ckpt.write_atomically(
            target, lambda temp: self._write_state(temp, state, False), meta
        )
        return {"saved": saved, "path": str(target), **self.describe()}

    @staticmethod
    def _export_into(model_dir: Path, out_dir: Path) -> dict:
        try:
            from tirflow_py.onnx_export import export_onnx  # another module's work; loaded lazily
        except ImportError as err:
            raise TrainerError("OnnxExportUnavailable", f"tirflow_py.onnx_export is not importable: {err}") from None
        return export_onnx(model_dir, out_dir) or {}

    def export_onnx(self, model_dir: str | None, out_dir: str) -> dict:
        """Exports an HF folder (default: the loaded policy's) to out_dir, atomically, once."""
        out = Path(out_dir).resolve()
        if out.exists() or not self.dist.is_writer:  # under torchrun rank 0 alone exports
            return {"reused": True, "out_dir": str(out)}
        if model_dir is None:
            self._require_model()
            source = Path(self.source)
            model_dir = str(source / "hf" if ckpt.is_complete(source) else source)
        temp = out.parent / f"{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            info = self._export_into(Path(model_dir), temp)
            os.rename(temp, out)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return {"reused": False, "out_dir": str(out), "info": json.loads(json.dumps(info, default=str))}

    # ---- inspection -------------------------------------------------------------------------

    @torch.no_grad()
    def logprobs(self, sequences: list[dict], temperature: float = 1.0) -> list[list[float]]:
        """Per-response-token logprobs under the loaded policy; sequences: [{prompt_token_ids,
        response_token_ids}]. For tests, and to compare with an engine's sampling logprobs."""
        self._require_model()
        trajectories = [
            Trajectory(str(i), str(i), s["prompt_token_ids"], s["response_token_ids"],
                       [1] * len(s["response_token_ids"]), 0.0)
            for i, s in enumerate(sequences)
        ]
        packed, logprobs, _ = self._forward(trajectories, temperature)
        out = []
        for row, t in enumerate(trajectories):
            p, r = len(t.prompt_token_ids), len(t.response_token_ids)
            out.append(logprobs[row, p - 1 : p - 1 + r].float().cpu().tolist())
        return out
