"""Scored trajectories in, padded tensors out; dynamic filtering and sample masks.

The model input is promptTokenIds + responseTokenIds. Logits at position t predict token
t + 1, so every per-token tensor here has T = L - 1 columns aligned with the *targets*
input_ids[:, 1:]: column P - 1 + i holds response token i of a trajectory with a P-token
prompt. The action mask is 1 only on model-generated response tokens (tool output is 0).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import TrainerError

# ScoredTrajectory.maskReasons values (common/trajectory.ts SampleMaskReason).
MASK_REASONS = frozenset({"truncated", "repetitive", "unpairedCode"})


@dataclass(frozen=True)
class Trajectory:
    """The fields of a ScoredTrajectory (common/trajectory.ts) that training needs."""

    id: str
    prompt_id: str
    prompt_token_ids: list[int]
    response_token_ids: list[int]
    action_mask: list[int]
    reward: float
    # Sample-mask reasons `score` found (activities/reward/sampleMasks.ts); empty when none.
    mask_reasons: tuple[str, ...] = ()
    # Per response token: the log-prob the engine sampled it with (0 on tool output), or None
    # when the engine did not record them (artifacts from before issue 17).
    behaviour_logprobs: list[float] | None = None
    # The policy version that generated each generate turn, or None when not recorded.
    turn_policy_versions: list[int] | None = None

    @property
    def length(self) -> int:
        return len(self.prompt_token_ids) + len(self.response_token_ids)


def _invalid(where: str, message: str) -> TrainerError:
    return TrainerError("InvalidTrajectory", f"{where}: {message}", retryable=False)


def _token_list(value: object, field: str, where: str, vocab_size: int | None) -> list[int]:
    # Whole-list checks (type set, min, max) run in C: a paper-size step has ~10 M tokens, and
    # the per-element generator this replaced was half of the trainer's read time (bench/scoredRead.py).
    if not isinstance(value, list) or (value and set(map(type, value)) != {int}):
        raise _invalid(where, f"{field} must be a list of integers")
    if vocab_size is not None and value and (min(value) < 0 or max(value) >= vocab_size):
        raise _invalid(where, f"{field} has a token id outside the vocabulary [0, {vocab_size})")
    return value


def _finite_numbers(value: object) -> bool:
    """A list of finite ints or floats (bools are not numbers here)."""
    if not isinstance(value, list):
        return False
    return not value or (set(map(type, value)) <= {int, float} and all(map(math.isfinite, value)))


def parse_trajectory(row: object, where: str, vocab_size: int | None = None) -> Trajectory:
    """Validates one scored.jsonl row; errors name the trajectory id (or the line when it has none)."""
    if not isinstance(row, dict):
        raise _invalid(where, "a row must be a JSON object")
    traj_id = row.get("id")
    if not isinstance(traj_id, str) or traj_id == "":
        raise _invalid(where, "missing trajectory id")
    where = f"trajectory {traj_id} ({where})"
    prompt_id = row.get("promptId")
    if not isinstance(prompt_id, str) or prompt_id == "":
        raise _invalid(where, "missing promptId")
    prompt = _token_list(row.get("promptTokenIds"), "promptTokenIds", where, vocab_size)
    response = _token_list(row.get("responseTokenIds"), "responseTokenIds", where, vocab_size)
    mask = row.get("actionMask")
    if not isinstance(mask, list) or (mask and (set(map(type, mask)) != {int} or not set(mask) <= {0, 1})):
        raise _invalid(where, "actionMask must be a list of 0/1")
    if len(mask) != len(response):
        raise _invalid(
            where, f"actionMask has {len(mask)} entries but responseTokenIds has {len(response)} tokens"
        )
    if len(prompt) == 0:
        raise _invalid(where, "promptTokenIds is empty")
    reward = row.get("reward")
    if not isinstance(reward, (int, float)) or isinstance(reward, bool) or not math.isfinite(reward):
        raise _invalid(where, f"reward must be a finite number, got {reward!r}")
    reasons = row.get("maskReasons", [])
    if not isinstance(reasons, list) or not all(r in MASK_REASONS for r in reasons):
        raise _invalid(where, f"maskReasons must be a list of {sorted(MASK_REASONS)}, got {reasons!r}")
    behaviour = row.get("behaviourLogprobs")
    if behaviour is not None:
        if not _finite_numbers(behaviour):
            raise _invalid(where, "behaviourLogprobs must be a list of finite numbers")
        if len(behaviour) != len(response):
            raise _invalid(
                where, f"behaviourLogprobs has {len(behaviour)} entries but responseTokenIds has {len(response)} tokens"
            )
    versions = row.get("turnPolicyVersions")
    if versions is not None and not (
        isinstance(versions, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in versions)
    ):
        raise _invalid(where, "turnPolicyVersions must be a list of policy versions (integers >= 0)")
    return Trajectory(
        traj_id, prompt_id, prompt, response, mask, float(reward), tuple(reasons),
        [float(x) for x in behaviour] if behaviour is not None else None, versions,
    )


def read_scored(paths: list[str], vocab_size: int | None = None) -> list[Trajectory]:
    """Reads and validates every scored.jsonl file before anything is trained or written."""
    trajectories: list[Trajectory] = []
    seen: set[str] = set()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TrainerError("MissingArtifact", f"scored trajectories not found: {path}") from None
        for line_number, line in enumerate(text.splitlines(), start=1):
            if line.strip() == "":
                continue
            where = f"{path}:{line_number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise _invalid(where, "not valid JSON") from None
            trajectory = parse_trajectory(row, where, vocab_size)
            if trajectory.id in seen:
                raise _invalid(where, f"duplicate trajectory id {trajectory.id}")
            seen.add(trajectory.id)
            trajectories.append(trajectory)
    # No paths is a step whose every shard an operator skipped: the policy is carried over.
    if paths and not trajectories:
        raise TrainerError("InvalidTrajectory", f"no trajectories in {paths}")
    return trajectories


def group_indices(trajectories: list[Trajectory]) -> torch.Tensor:
    """(N,) long: the group (same promptId) of each trajectory, numbered in order of appearance."""
    numbers: dict[str, int] = {}
    return torch.tensor([numbers.setdefault(t.prompt_id, len(numbers)) for t in trajectories], dtype=torch.long)


# The band's slack, as in the paper's code and common/dynamicFiltering.ts.
FILTER_BAND_SLACK = 1e-6


def keeps_group(mean_reward: float, low: float, high: float) -> bool:
    """Dynamic filtering's rule (the one Python home; common/dynamicFiltering.ts is the TypeScript
    one, test/trainer/filterBandCases.json holds the cases both agree on): a group is kept when
    its mean reward lies strictly inside (low, high), as the paper's code keeps it
    (`min_reward + 1e-6 < avg_reward < max_reward - 1e-6`)."""
    return low + FILTER_BAND_SLACK < mean_reward < high - FILTER_BAND_SLACK


def filter_groups(trajectories: list[Trajectory], low: float, high: float) -> tuple[list[Trajectory], int]:
    """The trajectories of the groups the band keeps, and the number of groups dropped."""
    sums: dict[str, list[float]] = {}
    for t in trajectories:
        total = sums.setdefault(t.prompt_id, [0.0, 0])
        total[0] += t.reward
        total[1] += 1
    dropped = {prompt_id for prompt_id, (total, count) in sums.items() if not keeps_group(total / count, low, high)}
    return [t for t in trajectories if t.prompt_id not in dropped], len(dropped)


def first_groups(trajectories: list[Trajectory], max_groups: int | None) -> list[Trajectory]:
    """The trajectories of the first `max_groups` groups, in order of first appearance (all
    of them when `max_groups` is None)."""
    if max_groups is None:
        return trajectories
    order = list(dict.fromkeys(t.prompt_id for t in trajectories))  # first appearance, no repeats
    chosen = set(order[:max_groups])
    return [t for t in trajectories if t.prompt_id in chosen]


@dataclass
class PackedBatch:
    """Right-padded tensors of a list of trajectories. B sequences, L = longest length, T = L - 1."""

    input_ids: torch.Tensor  # (B, L) long
    attention_mask: torch.Tensor  # (B, L) long
    action_mask: torch.Tensor  # (B, T) float: 1 where the target is a model-generated response token
    response_mask: torch.Tensor  # (B, T) float: 1 where the target is any response token (incl. tool output)
    last_action_index: torch.Tensor  # (B,) long: column of the last model-generated token in T

    def to(self, device: torch.device) -> "PackedBatch":
        return PackedBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def pack(trajectories: list[Trajectory], pad_token_id: int) -> PackedBatch:
    batch = len(trajectories)
    length = max(t.length for t in trajectories)
    input_ids = torch.full((batch, length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, length), dtype=torch.long)
    action_mask = torch.zeros((batch, length - 1))
    response_mask = torch.zeros((batch, length - 1))
    last_action_index = torch.zeros(batch, dtype=torch.long)
    for row, t in enumerate(trajectories):
        p, r = len(t.prompt_token_ids), len(t.response_token_ids)
        input_ids[row, : p + r] = torch.tensor(t.prompt_token_ids + t.response_token_ids)
        attention_mask[row, : p + r] = 1
        if r > 0:
            action_mask[row, p - 1 : p - 1 + r] = torch.tensor(t.action_mask, dtype=torch.float)
            response_mask[row, p - 1 : p - 1 + r] = 1
        model_tokens = [i for i, m in enumerate(t.action_mask) if m == 1]
        last_action_index[row] = p - 1 + model_tokens[-1] if model_tokens else p - 1
    return PackedBatch(input_ids, attention_mask, action_mask, response_mask, last_action_index)
