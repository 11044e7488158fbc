"""Losses and per-token statistics, OpenRLHF style: explicit, shape-documented inputs.

All per-token tensors are (B, T) aligned with the targets (see batch.py). Aggregation is
global over a mini-batch: the caller passes the mini-batch's action-token and sequence counts,
so splitting a mini-batch into micro-batches and summing their losses gives exactly the loss
of the whole mini-batch (gradient accumulation is exact).
"""

from __future__ import annotations

import torch


def aggregate(
    per_token: torch.Tensor, action_mask: torch.Tensor, mode: str, token_count: float, sequence_count: float
) -> torch.Tensor:
    """per_token, action_mask (B, T) -> scalar.

    token: sum over action tokens / token_count (every generated token weighs the same, as in
    ZeroTIR / DAPO). sequence: each sequence's mean over its action tokens, summed, / sequence_count."""
    if mode == "token":
        return (per_token * action_mask).sum() / token_count
    if mode == "sequence":
        per_sequence = (per_token * action_mask).sum(-1) / action_mask.sum(-1).clamp(min=1)
        return per_sequence.sum() / sequence_count
    raise ValueError(f"unknown loss aggregation {mode!r}")


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PPO-clip actor loss per token, with an asymmetric clip range [1 - eps_low, 1 + eps_high].

    logprobs (B, T) of the policy being trained; old_logprobs (B, T) of the policy that sampled
    (recomputed at the start of the step); advantages (B, T).
    Returns loss (B, T) = -min(ratio * A, clip(ratio) * A) and clipped (B, T) bool: tokens where
    the clipped term is the one taken (its gradient is zero there)."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high) * advantages
    return -torch.min(unclipped, clipped), clipped < unclipped


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, T): the k3 estimator of KL(policy || reference), exp(d) - d - 1 with
    d = ref - logp; non-negative and unbiased (Schulman, "Approximating KL divergence")."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float
) -> torch.Tensor:
    """(B, T) -> (B, T): clipped value loss 0.5 * max((V - R)^2, (V_clip - R)^2)."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, T, V) -> (B, T): entropy of each next-token distribution, in nats."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)
