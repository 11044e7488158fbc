"""Which of a step's trajectories an update trains on: the one rule the torch trainer and the
simulated update (the dry run's data path) both follow, and the metrics that describe it."""

from __future__ import annotations

from dataclasses import dataclass

from .batch import Trajectory, filter_groups, first_groups
from .settings import TrainerSettings, masked_reasons

# ScoredTrajectory.maskReasons → the metric that counts it (common/activityContracts.ts UpdateMetrics).
_MASK_METRICS = (("truncated", "masked_truncated"), ("repetitive", "masked_repetitive"),
                 ("unpairedCode", "masked_unpaired_code"))


@dataclass(frozen=True)
class UpdateSelection:
    trajectories: list[Trajectory]  # everything the step's scored files hold
    kept: list[Trajectory]  # after the reward band and the refill cap (`max_groups`)
    trained: list[int]  # indices into `kept` of the trajectories in the loss (no sample mask hit)
    groups_filtered: int
    masked: frozenset[str]

    @property
    def in_loss(self) -> list[Trajectory]:
        return [self.kept[i] for i in self.trained]

    def metrics(self, updated_version: int) -> dict:
        """The selection's part of the step's metric record."""
        return {
            "trajectories": len(self.trajectories),
            "groups": len({t.prompt_id for t in self.trajectories}),
            "groups_filtered": self.groups_filtered,
            "trajectories_trained": len(self.trained),
            **{metric: sum(reason in self.masked and reason in t.mask_reasons for t in self.kept)
               for reason, metric in _MASK_METRICS},
            "staleness": staleness(self.in_loss, updated_version),
        }


def select_for_update(
    trajectories: list[Trajectory], config: TrainerSettings, max_groups: int | None
) -> UpdateSelection:
    """The reward band (dynamic filtering), then the first `max_groups` kept groups (refill's
    cap), then the sample masks: masked trajectories stay in the group statistics, out of the loss."""
    kept, groups_filtered = (
        filter_groups(trajectories, config.filter_reward_low, config.filter_reward_high)
        if config.dynamic_filtering
        else (trajectories, 0)
    )
    kept = first_groups(kept, max_groups)
    masked = masked_reasons(config)
    trained = [i for i, t in enumerate(kept) if masked.isdisjoint(t.mask_reasons)]
    return UpdateSelection(trajectories, kept, trained, groups_filtered, masked)


def staleness(trajectories: list[Trajectory], updated_version: int) -> int:
    """The updated policy's version minus the oldest version that generated a turn (0 unrecorded)."""
    oldest = [min(t.turn_policy_versions) for t in trajectories if t.turn_policy_versions]
    return max(0, updated_version - min(oldest)) if oldest else 0
