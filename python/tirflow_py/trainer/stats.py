"""The statistics of one policy update, accumulated micro-batch by micro-batch.

Each micro-batch reports sums over its own action tokens (already multiplied by its 0/1
weight, so a padding micro-batch adds nothing); each optimizer step reports its grad norm, or
None when it was skipped. Under torchrun every rank sums its own sequences and `finish` adds
the ranks' sums (the grad norm is global already).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .distributed import Distributed

# Sums a micro-batch reports: loss and value_loss are its (weighted) loss terms, the rest are
# sums over its action tokens (tokens = their count, trained_tokens = prompt + response tokens).
MICRO_SUMS = ("loss", "value_loss", "kl", "clipped", "dual_clipped", "entropy", "tokens", "trained_tokens")


@dataclass
class UpdateStats:
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MICRO_SUMS, 0.0))
    grad_norm_sum: float = 0.0
    optimizer_steps: int = 0
    skipped_steps: int = 0

    def add_micro_batch(self, sums: dict[str, float]) -> None:
        for name in MICRO_SUMS:
            self.sums[name] += sums[name]

    def add_optimizer_step(self, grad_norm: float | None) -> None:
        if grad_norm is None:
            self.skipped_steps += 1
        else:
            self.optimizer_steps += 1
            self.grad_norm_sum += grad_norm

    @property
    def passes(self) -> int:
        return self.optimizer_steps + self.skipped_steps

    def finish(self, dist: Distributed) -> dict:
        totals = dist.sum_over_ranks(self.sums)
        passes = max(1, self.passes)
        tokens = max(1.0, totals["tokens"])
        return dict(
            loss=totals["loss"] / passes,
            value_loss=totals["value_loss"] / passes,
            grad_norm=self.grad_norm_sum / max(1, self.optimizer_steps),
            kl=totals["kl"] / tokens,
            clip_fraction=totals["clipped"] / tokens,
            dual_clip_fraction=totals["dual_clipped"] / tokens,
            entropy=totals["entropy"] / tokens,
            action_tokens=int(totals["tokens"]),
            trained_tokens=int(totals["trained_tokens"]),
            optimizer_steps=self.optimizer_steps,
            skipped_steps=self.skipped_steps,
        )
