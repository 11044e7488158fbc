"""Hyperparameters of one policy update: plain values with defaults (the ZeroTIR settings).

Keys arrive snake_case in the train_step request's `hyper` object; unknown keys are an error
so a typo in a config never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .errors import TrainerError

ALGORITHMS = ("grpo", "reinforce_pp_baseline", "ppo")
AGGREGATIONS = ("token", "sequence")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Hyperparameters:
    algorithm: str = "reinforce_pp_baseline"
    lr: float = 1e-6
    eps_low: float = 0.2  # PPO clip below 1 (ratio >= 1 - eps_low)
    eps_high: float = 0.28  # asymmetric "clip-higher" above 1 (ratio <= 1 + eps_high)
    kl_coef: float = 0.0  # k3 KL to the frozen reference; 0 = no reference model is loaded
    loss_aggregation: str = "token"  # token: mean over all action tokens; sequence: mean of per-sequence means
    ppo_epochs: int = 1
    mini_batches: int = 1  # optimizer steps per epoch
    micro_batch_size: int = 8  # sequences per forward/backward; bounds memory, not the result
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    temperature: float = 1.0  # sampling temperature of the rollout: logits are divided by it
    dynamic_filtering: bool = True  # drop groups whose rewards are all equal
    seed: int = 0  # with the step, seeds the mini-batch shuffle so a redone step is identical
    device: str = "auto"
    # PPO only (separate critic, GAE).
    critic_lr: float | None = None  # None: the actor's lr
    gae_gamma: float = 1.0
    gae_lambda: float = 0.95
    value_clip: float = 0.2

    @staticmethod
    def from_json(raw: dict | None) -> "Hyperparameters":
        raw = dict(raw or {})
        names = {f.name for f in dataclasses.fields(Hyperparameters)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise TrainerError("InvalidHyperparameters", f"unknown hyperparameters: {', '.join(unknown)}")
        hyper = Hyperparameters(**raw)
        hyper.validate()
        return hyper

    def validate(self) -> None:
        def bad(message: str) -> TrainerError:
            return TrainerError("InvalidHyperparameters", message)

        if self.algorithm not in ALGORITHMS:
            raise bad(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.loss_aggregation not in AGGREGATIONS:
            raise bad(f"loss_aggregation must be one of {AGGREGATIONS}, got {self.loss_aggregation!r}")
        if self.device not in DEVICES:
            raise bad(f"device must be one of {DEVICES}, got {self.device!r}")
        for name in ("lr", "max_grad_norm", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise bad(f"{name} must be a positive number, got {value!r}")
        for name in ("eps_low", "eps_high", "kl_coef", "weight_decay", "value_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise bad(f"{name} must be a non-negative number, got {value!r}")
        for name in ("ppo_epochs", "mini_batches", "micro_batch_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise bad(f"{name} must be an integer >= 1, got {value!r}")
        if self.eps_low >= 1:
            raise bad("eps_low must be < 1")

    @property
    def actor_critic(self) -> bool:
        return self.algorithm == "ppo"
