"""Advantage estimators. N trajectories, T token columns (see batch.py for the alignment).

- GRPO: outcome reward normalized within its group: (r - mean_g) / (std_g + eps).
- Reinforce++-baseline: group-mean baseline r - mean_g (no / std), broadcast to the
  sequence's action tokens, then normalized over all action tokens of the batch.
- PPO: generalized advantage estimation against a learned critic, whitened over the batch.
"""

from __future__ import annotations

import torch


def group_mean_std(rewards: torch.Tensor, group_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rewards (N,), group_index (N,) long -> per-trajectory group mean (N,) and group std (N,).

    std is the unbiased sample std (torch's default, as OpenRLHF's group_norm); a group of one
    has no spread and gets std 0."""
    groups = int(group_index.max()) + 1
    count = torch.zeros(groups, dtype=rewards.dtype).index_add_(0, group_index, torch.ones_like(rewards))
    mean = torch.zeros(groups, dtype=rewards.dtype).index_add_(0, group_index, rewards) / count
    squared = torch.zeros(groups, dtype=rewards.dtype).index_add_(0, group_index, (rewards - mean[group_index]) ** 2)
    std = torch.where(count > 1, squared / (count - 1).clamp(min=1), torch.zeros_like(count)).sqrt()
    return mean[group_index], std[group_index]


def grpo_advantages(rewards: torch.Tensor, group_index: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(N,) -> (N,) group-normalized outcome reward."""
    mean, std = group_mean_std(rewards, group_index)
    return (rewards - mean) / (std + eps)


def group_baseline(rewards: torch.Tensor, group_index: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N,) reward minus its group's mean (the Reinforce++-baseline baseline)."""
    mean, _ = group_mean_std(rewards, group_index)
    return rewards - mean


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """values, mask (B, T) -> (B, T): (v - mean) / (std + eps) over masked tokens; 0 off the mask.

    Token-weighted, as OpenRLHF normalizes Reinforce++ advantages: a long response weighs more."""
    count = mask.sum().clamp(min=1)
    mean = (values * mask).sum() / count
    var = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) / (var.sqrt() + eps) * mask


def reinforce_pp_baseline_advantages(
    rewards: torch.Tensor, group_index: torch.Tensor, action_mask: torch.Tensor
) -> torch.Tensor:
    """rewards (N,), group_index (N,), action_mask (N, T) -> advantages (N, T)."""
    per_sequence = group_baseline(rewards, group_index)
    return masked_whiten(per_sequence[:, None] * action_mask, action_mask)


def token_advantages(per_sequence: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """(N,) sequence advantages -> (N, T), the same value on each of the sequence's action tokens."""
    return per_sequence[:, None] * action_mask


def gae_advantages(
    values: torch.Tensor,
    rewards: torch.Tensor,
    action_mask: torch.Tensor,
    last_action_index: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over the policy's own tokens, the outcome reward on the
    last model-generated token.

    values (N, T) critic values V(s_t) aligned with targets; rewards (N,); action_mask (N, T) 1 on
    model-generated tokens; last_action_index (N,) the column of each sequence's last one.
    Returns advantages (N, T) and returns (N, T) = advantages + values, 0 off the action mask.

    Tool-output tokens are not actions: as in the paper's code (OpenRLHF's GAE under its env
    mask), their critic values and rewards are zeroed. Unlike it, the recursion does not restart
    at a tool output: the state after the last token before a tool call is the first token after
    the output, so the outcome reward reaches the segments before every tool call (the paper's
    code cuts it there). Advantages are those of the same sequence with the tool tokens removed.
    """
    n, t = values.shape
    token_rewards = torch.zeros_like(values)
    token_rewards[torch.arange(n), last_action_index] = rewards.to(values.dtype)
    values = values * action_mask
    token_rewards = token_rewards * action_mask
    is_action = action_mask > 0
    advantages = torch.zeros_like(values)
    running = torch.zeros(n, dtype=values.dtype, device=values.device)
    next_value = torch.zeros_like(running)
    for col in reversed(range(t)):
        delta = token_rewards[:, col] + gamma * next_value - values[:, col]
        # Off the action mask (tool output, prompt, padding) the recursion passes through unchanged.
        running = torch.where(is_action[:, col], delta + gamma * lam * running, running)
        next_value = torch.where(is_action[:, col], values[:, col], next_value)
        advantages[:, col] = running * action_mask[:, col]
    return advantages, (advantages + values) * action_mask
