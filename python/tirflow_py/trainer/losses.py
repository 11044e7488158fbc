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
    dual_clip: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The PPO-clip actor loss per token, with an asymmetric clip range [1 - eps_low, 1 + eps_high]
    and an optional dual clip.

    logprobs (B, T) of the policy being trained; old_logprobs (B, T) of the proximal policy (the
    weights before this update, recomputed at the start of the step); advantages (B, T).
    Returns loss (B, T) = -min(ratio * A, clip(ratio) * A), clipped (B, T) bool: tokens where the
    clipped term is the one taken (its gradient is zero there), and dual_clipped (B, T) bool.

    Dual clip (Ye et al. 2020, the paper's --use_dual_policy_loss with c = 3): for A < 0 the loss
    is also capped at -dual_clip * A, so one token whose ratio exploded cannot dominate the update;
    dual_clip 0 turns it off."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high) * advantages
    loss = -torch.min(unclipped, clipped)
    dual_clipped = torch.zeros_like(loss, dtype=torch.bool)
    if dual_clip > 0:
        cap = -dual_clip * advantages
        dual_clipped = (advantages < 0) & (loss > cap)
        loss = torch.where(dual_clipped, cap, loss)
    return loss, clipped < unclipped, dual_clipped


def behaviour_weights(
    old_logprobs: torch.Tensor, behaviour_logprobs: torch.Tensor, mode: str, cap: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Off-policy correction: per-token weights (T,) that multiply the PPO loss, and the raw
    importance weights (T,) they come from.

    raw = π_old / π_behaviour, the trainer's pre-update policy over the distribution the engine
    sampled from (an older policy version, and another numeric path: ONNX or vLLM vs torch).
      none       weights 1: the behaviour policy is ignored.
      tis        truncated importance sampling: min(raw, cap).
      decoupled  decoupled PPO (Hilton et al. 2021; AReaL): the behaviour policy for the weight,
                 π_old as the proximal policy the ratio is clipped against (policy_loss); tokens
                 whose raw weight exceeds the cap are dropped (weight 0) instead of truncated.
    Because tirflow always recomputes π_old with the trainer's weights, tis and decoupled share the
    ratio and differ in what happens above the cap."""
    raw = torch.exp(old_logprobs - behaviour_logprobs)
    if mode == "none":
        return torch.ones_like(raw), raw
    if mode == "tis":
        return raw.clamp(max=cap), raw
    if mode == "decoupled":
        return torch.where(raw <= cap, raw, torch.zeros_like(raw)), raw
    raise ValueError(f"unknown off-policy correction {mode!r}")


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
