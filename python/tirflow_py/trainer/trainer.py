"""The trainer's state (policy, optimizer, optional critic and reference) and its commands.

One policy update, top to bottom (train_step):
  find a committed step-N checkpoint? -> load it and return its metrics (exactly once per step)
  read + validate every trajectory -> dynamic filtering -> old logprobs (and values, ref logprobs)
  -> advantages -> for each epoch, for each shuffled mini-batch: micro-batched forward/backward,
  clip, AdamW step -> atomic checkpoint (hf/, trainer/, onnx/, meta.json) -> step log.

Under torchrun (distributed.py) every rank runs these same methods on its FSDP shard; `self.dist`
marks the few places that differ: each rank's slice of a batch, gathers, rank-0-only writes.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from . import checkpoint as ckpt
from .advantages import gae_advantages, grpo_advantages, masked_whiten, reinforce_pp_baseline_advantages
from .advantages import token_advantages
from .batch import Trajectory, filter_uniform_groups, group_indices, pack, read_scored
from .distributed import Distributed
from .errors import TrainerError
from .hyper import Hyperparameters
from .losses import aggregate, k3_kl, policy_loss, value_loss
from .model import Critic, autocast, load_policy, pad_token_id, resolve_device, token_logprobs

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

    def _configure_optimizers(self, hyper: Hyperparameters) -> None:
        """Creates the optimizers on first use; applies this step's hyperparameters (lr may change
        between steps by operator update, the optimizer's moments carry over)."""
        if self.optimizer is None:
            self.optimizer = self._new_optimizer(self.model.parameters(), hyper.lr)
        groups = list(self.optimizer.param_groups)
        if hyper.actor_critic:
            if self.critic is None:
                self.critic = self.dist.shard(Critic(self.base_model_dir).to(self.device))
            if self.critic_optimizer is None:
                self.critic_optimizer = self._new_optimizer(self.critic.parameters())
            for group in self.critic_optimizer.param_groups:
                group["lr"] = hyper.critic_lr if hyper.critic_lr is not None else hyper.lr
                group["betas"] = (hyper.adam_beta1, hyper.adam_beta2)
                group["weight_decay"] = hyper.weight_decay
        for group in groups:
            group["lr"] = hyper.lr
            group["betas"] = (hyper.adam_beta1, hyper.adam_beta2)
            group["weight_decay"] = hyper.weight_decay
        if hyper.kl_coef > 0 and self.reference is None:
            # Only when KL is on: a frozen copy of the base model costs a second model's memory.
            reference, _ = load_policy(self.base_model_dir, self.device)
            self.reference = self.dist.shard(reference.requires_grad_(False))

    # ---- train_step -------------------------------------------------------------------------

    def train_step(
        self,
        step: int,
        scored_paths: list[str],
        checkpoint_dir: str,
        hyper: dict | None = None,
        export_onnx: bool = False,
    ) -> dict:
        target = Path(checkpoint_dir).resolve()
        if self.dist.decide(ckpt.is_complete(target)):
            return self._reuse(step, target, export_onnx)
        self._require_model()
        config = Hyperparameters.from_json(hyper)
        if self.version != step - 1:
            raise TrainerError(
                "PolicyVersionMismatch",
                f"step {step} must update policy v{step - 1}, but the trainer holds v{self.version}",
            )
        ckpt.maybe_stall(step)
        # Validation before anything is trained or written.
        trajectories = read_scored(scored_paths, vocab_size=self.model.get_input_embeddings().num_embeddings)
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
        kept, groups_filtered = (
            filter_uniform_groups(trajectories) if config.dynamic_filtering else (trajectories, 0)
        )
        metrics = self._update(kept, config, step) if kept else self._idle_metrics()
        elapsed = time.perf_counter() - started
        metrics.update(
            step=step,
            lr=config.lr,
            groups_filtered=groups_filtered,
            groups=len({t.prompt_id for t in trajectories}),
            trajectories=len(trajectories),
            tokens_per_s=metrics["trained_tokens"] / elapsed if elapsed > 0 else 0.0,
            update_seconds=elapsed,
        )
        self.version = self.step = step
        meta = {
            "step": step,
            "version": step,
            "base_model_dir": self.base_model_dir,
            "metrics": metrics,
            "hyper": asdict(config),
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
            f"filtered {groups_filtered} tokens/s {metrics['tokens_per_s']:.0f}"
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
        return {**meta["metrics"], "reused": True, "version": meta["version"]}

    def _idle_metrics(self) -> dict:
        """Every group was filtered: no gradient, the policy is carried over unchanged."""
        return dict(loss=0.0, grad_norm=0.0, kl=0.0, clip_fraction=0.0, entropy=0.0, value_loss=0.0,
                    trained_tokens=0, action_tokens=0, optimizer_steps=0, skipped_steps=0)

    def _forward(self, trajectories: list[Trajectory], temperature: float, with_entropy: bool = False):
        packed = pack(trajectories, pad_token_id(self.tokenizer, self.model)).to(self.device)
        with autocast(self.device):
            logprobs, entropy = token_logprobs(
                self.model, packed.input_ids, packed.attention_mask, temperature, with_entropy
            )
        return packed, logprobs, entropy

    @torch.no_grad()
    def _experience(self, kept: list[Trajectory], config: Hyperparameters) -> dict[str, list[torch.Tensor]]:
        """Old logprobs of the policy as it is before the update (the engine's are not trusted:
        another numeric path), plus reference logprobs and critic values when used. Per
        trajectory, on CPU, length T_i = len - 1."""
        rows: dict[str, dict[int, torch.Tensor]] = {"old": {}, "ref": {}, "values": {}}
        for chunk, live in self.dist.local_chunks(list(range(len(kept))), config.micro_batch_size):
            trajs = [kept[i] for i in chunk]
            packed, old, _ = self._forward(trajs, config.temperature)
            ref = values = None
            if self.reference is not None:
                with autocast(self.device):
                    ref, _ = token_logprobs(self.reference, packed.input_ids, packed.attention_mask, config.temperature)
            if self.critic is not None and config.actor_critic:
                with autocast(self.device):
                    values = self.critic(packed.input_ids, packed.attention_mask)
            if not live:
                continue
            for row, (i, t) in enumerate(zip(chunk, trajs)):
                width = t.length - 1
                rows["old"][i] = old[row, :width].float().cpu()
                if ref is not None:
                    rows["ref"][i] = ref[row, :width].float().cpu()
                if values is not None:
                    rows["values"][i] = values[row, :width].float().cpu()
        rows = self.dist.gather_rows(rows)
        return {name: [by_index[i] for i in sorted(by_index)] for name, by_index in rows.items()}

    def _advantages(self, kept: list[Trajectory], config: Hyperparameters, experience: dict) -> tuple:
        """Per-trajectory advantages (and PPO returns), each (T_i,)."""
        full = pack(kept, 0)
        rewards = torch.tensor([t.reward for t in kept])
        groups = group_indices(kept)
        returns = None
        if config.algorithm == "grpo":
            advantages = token_advantages(grpo_advantages(rewards, groups), full.action_mask)
        elif config.algorithm == "reinforce_pp_baseline":
            advantages = reinforce_pp_baseline_advantages(rewards, groups, full.action_mask)
        else:
            values = _pad_rows(experience["values"], full.action_mask.shape[1])
            advantages, returns = gae_advantages(
                values, rewards, full.response_mask, full.last_index, config.gae_gamma, config.gae_lambda
            )
            advantages = masked_whiten(advantages, full.action_mask)
        widths = [t.length - 1 for t in kept]
        per_adv = [advantages[i, :w] for i, w in enumerate(widths)]
        per_ret = [returns[i, :w] for i, w in enumerate(widths)] if returns is not None else None
        return per_adv, per_ret

    def _update(self, kept: list[Trajectory], config: Hyperparameters, step: int) -> dict:
        self.progress({"phase": "experience", "step": step, "trajectories": len(kept)})
        experience = self._experience(kept, config)
        advantages, returns = self._advantages(kept, config, experience)
        shuffle = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        sums = dict(loss=0.0, grad_norm=0.0, value_loss=0.0, kl=0.0, clipped=0.0, entropy=0.0, tokens=0.0)
        optimizer_steps = skipped = trained_tokens = 0
        total = config.ppo_epochs * config.mini_batches
        self.model.train()
        for epoch in range(config.ppo_epochs):
            order = torch.randperm(len(kept), generator=shuffle).tolist()
            for mini in [m.tolist() for m in torch.tensor_split(torch.tensor(order), config.mini_batches)]:
                if not mini:
                    continue
                token_count = max(1.0, float(sum(sum(kept[i].action_mask) for i in mini)))
                sequence_count = float(len(mini))
                self.optimizer.zero_grad(set_to_none=True)
                if self.critic_optimizer is not None:
                    self.critic_optimizer.zero_grad(set_to_none=True)
                mini_loss = mini_value_loss = 0.0
                for micro, live in self.dist.local_chunks(mini, config.micro_batch_size):
                    trajs = [kept[i] for i in micro]
                    packed, logprobs, entropy = self._forward(trajs, config.temperature, with_entropy=True)
                    width = logprobs.shape[1]
                    mask = packed.action_mask
                    old = _pad_rows([experience["old"][i] for i in micro], width).to(self.device)
                    adv = _pad_rows([advantages[i] for i in micro], width).to(self.device)
                    per_token, clipped = policy_loss(logprobs, old, adv, config.eps_low, config.eps_high)
                    loss = aggregate(per_token, mask, config.loss_aggregation, token_count, sequence_count)
                    if self.reference is not None:
                        ref = _pad_rows([experience["ref"][i] for i in micro], width).to(self.device)
                        kl = k3_kl(logprobs, ref)
                        if config.kl_coef > 0:
                            loss = loss + config.kl_coef * aggregate(
                                kl, mask, config.loss_aggregation, token_count, sequence_count
                            )
                        if live:
                            sums["kl"] += float((kl.detach() * mask).sum())
                    if not live:
                        loss = loss * 0.0  # a padding micro-batch: in FSDP's collectives, no gradient
                    self.dist.backward(loss)
                    mini_loss += float(loss.detach())
                    if config.actor_critic:
                        with autocast(self.device):
                            values = self.critic(packed.input_ids, packed.attention_mask)
                        old_values = _pad_rows([experience["values"][i] for i in micro], width).to(self.device)
                        ret = _pad_rows([returns[i] for i in micro], width).to(self.device)
                        critic_loss = aggregate(
                            value_loss(values, old_values, ret, config.value_clip),
                            mask, config.loss_aggregation, token_count, sequence_count,
                        )
                        if not live:
                            critic_loss = critic_loss * 0.0
                        self.dist.backward(critic_loss)
                        mini_value_loss += float(critic_loss.detach())
                    if not live:
                        continue
                    sums["clipped"] += float((clipped.float() * mask).sum())
                    sums["entropy"] += float((entropy * mask).sum())
                    sums["tokens"] += float(mask.sum())
                    trained_tokens += int(packed.attention_mask.sum())
                grad_norm = self.dist.clip_grad_norm(self.model.parameters(), config.max_grad_norm)
                if math.isfinite(grad_norm):
                    self.optimizer.step()
                    if self.critic_optimizer is not None and config.actor_critic:
                        self.dist.clip_grad_norm(self.critic.parameters(), config.max_grad_norm)
                        self.critic_optimizer.step()
                    optimizer_steps += 1
                    sums["grad_norm"] += grad_norm
                else:
                    # A non-finite gradient would poison the weights for the rest of the run.
                    skipped += 1
                    log(f"step {step}: non-finite grad norm, optimizer step skipped")
                sums["loss"] += mini_loss
                sums["value_loss"] += mini_value_loss
                self.progress(
                    {"phase": "update", "step": step, "optimizer_step": optimizer_steps + skipped, "of": total}
                )
        self.model.eval()
        self.optimizer.zero_grad(set_to_none=True)
        # Each rank summed its own sequences' losses and statistics (the grad norm is global already).
        own = {name: value for name, value in sums.items() if name != "grad_norm"}
        totals = self.dist.sum_over_ranks({**own, "trained_tokens": trained_tokens})
        trained_tokens = int(totals.pop("trained_tokens"))
        sums.update(totals)
        passes = max(1, optimizer_steps + skipped)
        tokens = max(1.0, sums["tokens"])
        return dict(
            loss=sums["loss"] / passes,
            grad_norm=sums["grad_norm"] / max(1, optimizer_steps),
            kl=sums["kl"] / tokens,
            clip_fraction=sums["clipped"] / tokens,
            entropy=sums["entropy"] / tokens,
            value_loss=sums["value_loss"] / passes,
            trained_tokens=trained_tokens,
            action_tokens=int(sums["tokens"]),
            optimizer_steps=optimizer_steps,
            skipped_steps=skipped,
        )

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
