"""Advantages and losses against numbers computed by hand on a 2-group toy batch."""

import math

import pytest
import torch

from tirflow_py.trainer.advantages import (
    gae_advantages,
    grpo_advantages,
    reinforce_pp_baseline_advantages,
)
from tirflow_py.trainer.batch import Trajectory, filter_uniform_groups, pack
from tirflow_py.trainer.losses import aggregate, k3_kl, policy_loss, value_loss

# Two groups of three: group a rewarded [1, 0, 0], group b rewarded [1, 1, 0].
REWARDS = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
GROUPS = torch.tensor([0, 0, 0, 1, 1, 1])


def test_grpo_advantages_are_group_normalized():
    # Group a: mean 1/3, deviations (2/3, -1/3, -1/3), unbiased variance (4/9 + 1/9 + 1/9) / 2 = 1/3,
    # so std = 1/sqrt(3) and advantages (2/sqrt(3), -1/sqrt(3), -1/sqrt(3)); group b mirrors it.
    big, small = 2 / math.sqrt(3), 1 / math.sqrt(3)
    expected = torch.tensor([big, -small, -small, small, small, -big])
    assert torch.allclose(grpo_advantages(REWARDS, GROUPS), expected, atol=1e-5)


def test_reinforce_pp_baseline_subtracts_group_mean_then_normalizes_over_batch_tokens():
    # Action tokens per sequence: 2, 1, 1, 1, 1, 2 (8 tokens; the last column of row 1..4 is masked).
    mask = torch.tensor([[1, 1], [1, 0], [1, 0], [1, 0], [1, 0], [1, 1]], dtype=torch.float)
    # Baselined: (2/3, -1/3, -1/3, 1/3, 1/3, -2/3). Token-weighted mean: (4/3 - 2/3 + 2/3 - 4/3) / 8 = 0.
    # Token-weighted variance: (2*4/9 + 4*1/9 + 2*4/9) / 8 = 5/18. So 2/3 -> (2/3) / sqrt(5/18) = 1.264911,
    # 1/3 -> 0.632456.
    hi, lo = 1.264911, 0.632456
    expected = torch.tensor([[hi, hi], [-lo, 0], [-lo, 0], [lo, 0], [lo, 0], [-hi, -hi]])
    got = reinforce_pp_baseline_advantages(REWARDS, GROUPS, mask)
    assert torch.allclose(got, expected, atol=1e-5)


def test_ppo_clip_is_asymmetric():
    ratios = torch.tensor([[1.5, 0.7, 0.7, 1.5, 1.1]])
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0, 2.0]])
    old = torch.zeros_like(ratios)
    loss, clipped = policy_loss(ratios.log(), old, advantages, eps_low=0.2, eps_high=0.28)
    # 1.5 * +1 is capped at 1 + 0.28; 0.7 * +1 stays (pessimistic min); 0.7 * -1 is capped at
    # 1 - 0.2 = 0.8 -> -0.8; 1.5 * -1 stays; 1.1 * 2 is inside the range.
    assert torch.allclose(loss, torch.tensor([[-1.28, -0.7, 0.8, 1.5, -2.2]]), atol=1e-6)
    assert clipped.tolist() == [[True, False, True, False, False]]


def test_token_and_sequence_aggregation():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    # token: (1 + 2 + 3 + 4) / 4 tokens; sequence: mean(2, 4).
    assert aggregate(per_token, mask, "token", token_count=4, sequence_count=2).item() == pytest.approx(2.5)
    assert aggregate(per_token, mask, "sequence", token_count=4, sequence_count=2).item() == pytest.approx(3.0)


def test_k3_kl():
    # d = log 0.25 - log 0.5 = -ln 2: exp(d) - d - 1 = 0.5 + ln 2 - 1.
    got = k3_kl(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert got.item() == pytest.approx(0.5 + math.log(2) - 1, abs=1e-6)
    assert k3_kl(torch.tensor([-1.3]), torch.tensor([-1.3])).item() == 0.0


def test_gae_with_outcome_reward_on_last_token():
    values = torch.tensor([[0.5, 0.6, 0.0]])
    response = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = gae_advantages(values, torch.tensor([1.0]), response, torch.tensor([1]), gamma=1.0, lam=0.5)
    # delta_1 = 1 - 0.6 = 0.4 = A_1; delta_0 = 0.6 - 0.5 = 0.1, A_0 = 0.1 + 0.5 * 0.4 = 0.3.
    assert torch.allclose(adv, torch.tensor([[0.3, 0.4, 0.0]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[0.8, 1.0, 0.0]]), atol=1e-6)


def test_value_loss_is_clipped():
    # V moved 0.5 -> 1.0, clip 0.2 keeps 0.7; max((1.0 - 0.9)^2, (0.7 - 0.9)^2) / 2 = 0.02.
    got = value_loss(torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([0.9]), clip=0.2)
    assert got.item() == pytest.approx(0.02, abs=1e-6)


def _traj(i, prompt_id, reward, prompt=(5, 6), response=(7, 8, 9), mask=(1, 0, 1)):
    return Trajectory(f"t{i}", prompt_id, list(prompt), list(response), list(mask), reward)


def test_dynamic_filtering_drops_groups_with_equal_rewards():
    batch = [_traj(0, "a", 1.0), _traj(1, "a", 0.0), _traj(2, "b", 1.0), _traj(3, "b", 1.0), _traj(4, "c", 0.0)]
    kept, filtered = filter_uniform_groups(batch)
    assert [t.id for t in kept] == ["t0", "t1"]
    assert filtered == 2


def test_pack_aligns_action_mask_with_targets():
    packed = pack([_traj(0, "a", 1.0), _traj(1, "a", 0.0, prompt=(5,), response=(7,), mask=(1,))], pad_token_id=0)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 7, 0, 0, 0]]
    # Targets are input_ids[:, 1:]: column 1 predicts token 7 (the first response token).
    assert packed.action_mask.tolist() == [[0, 1, 0, 1], [1, 0, 0, 0]]
    assert packed.response_mask.tolist() == [[0, 1, 1, 1], [1, 0, 0, 0]]
    assert packed.last_index.tolist() == [3, 0]
