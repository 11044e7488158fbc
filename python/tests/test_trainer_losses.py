"""Advantages and losses against numbers computed by hand on a 2-group toy batch."""

import json
import math
from pathlib import Path

import pytest
import torch

from tirflow_py.trainer.advantages import (
    gae_advantages,
    grpo_advantages,
    reinforce_pp_baseline_advantages,
)
from tirflow_py.trainer.batch import Trajectory, filter_groups, keeps_group, pack
from tirflow_py.trainer.losses import aggregate, behaviour_weights, k3_kl, policy_loss, value_loss

BAND_CASES = Path(__file__).resolve().parents[2] / "test" / "trainer" / "filterBandCases.json"

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
    loss, clipped, dual = policy_loss(ratios.log(), old, advantages, eps_low=0.2, eps_high=0.28)
    # 1.5 * +1 is capped at 1 + 0.28; 0.7 * +1 stays (pessimistic min); 0.7 * -1 is capped at
    # 1 - 0.2 = 0.8 -> -0.8; 1.5 * -1 stays; 1.1 * 2 is inside the range.
    assert torch.allclose(loss, torch.tensor([[-1.28, -0.7, 0.8, 1.5, -2.2]]), atol=1e-6)
    assert clipped.tolist() == [[True, False, True, False, False]]
    assert not dual.any()


def test_dual_clip_caps_the_loss_of_negative_advantages():
    ratios = torch.tensor([[5.0, 5.0, 2.0, 0.5]])
    advantages = torch.tensor([[-1.0, 1.0, -1.0, -2.0]])
    loss, _, dual = policy_loss(ratios.log(), torch.zeros_like(ratios), advantages, 0.2, 0.28, dual_clip=3.0)
    # ratio 5, A = -1: PPO's loss is 5 (the pessimistic unclipped term), capped at 3 * 1 = 3.
    # A = +1: PPO clips to 1.28 (loss -1.28), dual clip leaves positive advantages alone.
    # ratio 2, A = -1: loss 2 < 3, untouched. ratio 0.5, A = -2: clipped to 0.8 * -2 -> 1.6 < 6.
    assert torch.allclose(loss, torch.tensor([[3.0, -1.28, 2.0, 1.6]]), atol=1e-6)
    assert dual.tolist() == [[True, False, False, False]]
    off, _, none = policy_loss(ratios.log(), torch.zeros_like(ratios), advantages, 0.2, 0.28, dual_clip=0.0)
    assert off[0, 0].item() == pytest.approx(5.0) and not none.any()


def test_off_policy_weights_on_hand_computed_tokens():
    # π_old / π_behaviour per token: 0.5/0.25 = 2, 0.3/0.6 = 0.5, 0.9/0.3 = 3, 0.2/0.2 = 1.
    old = torch.tensor([0.5, 0.3, 0.9, 0.2]).log()
    behaviour = torch.tensor([0.25, 0.6, 0.3, 0.2]).log()
    raw_expected = torch.tensor([2.0, 0.5, 3.0, 1.0])
    for mode, expected in (
        ("none", [1.0, 1.0, 1.0, 1.0]),
        ("tis", [2.0, 0.5, 2.5, 1.0]),  # truncated at the cap 2.5
        ("decoupled", [2.0, 0.5, 0.0, 1.0]),  # above the cap: dropped
    ):
        weights, raw = behaviour_weights(old, behaviour, mode, cap=2.5)
        assert torch.allclose(raw, raw_expected, atol=1e-6)
        assert torch.allclose(weights, torch.tensor(expected), atol=1e-6), mode


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
    actions = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = gae_advantages(values, torch.tensor([1.0]), actions, torch.tensor([1]), gamma=1.0, lam=0.5)
    # delta_1 = 1 - 0.6 = 0.4 = A_1; delta_0 = 0.6 - 0.5 = 0.1, A_0 = 0.1 + 0.5 * 0.4 = 0.3.
    assert torch.allclose(adv, torch.tensor([[0.3, 0.4, 0.0]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[0.8, 1.0, 0.0]]), atol=1e-6)


def test_gae_ignores_tool_output_tokens():
    """Tool-output tokens between two model segments, whatever their critic values, leave every
    model token's advantage as in the sequence without them, and get advantage and return 0."""
    gamma, lam = 0.9, 0.7
    model_values = torch.tensor([[0.5, 0.6, 0.2, 0.4]])
    reward, last = torch.tensor([1.0]), torch.tensor([3])
    plain, plain_ret = gae_advantages(model_values, reward, torch.ones(1, 4), last, gamma, lam)
    # The same four model tokens with two tool-output tokens after the second one.
    values = torch.tensor([[0.5, 0.6, 7.0, -3.0, 0.2, 0.4]])
    actions = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 1.0]])
    adv, ret = gae_advantages(values, torch.tensor([1.0]), actions, torch.tensor([5]), gamma, lam)
    model = actions[0].bool()
    assert torch.allclose(adv[0, model], plain[0], atol=1e-6)
    assert torch.allclose(ret[0, model], plain_ret[0], atol=1e-6)
    assert adv[0, ~model].tolist() == [0.0, 0.0] and ret[0, ~model].tolist() == [0.0, 0.0]
    # By hand for the last two: A_3 = 1 - 0.4 = 0.6; A_2 = (0.9 * 0.4 - 0.2) + 0.63 * 0.6 = 0.538.
    assert adv[0, 5].item() == pytest.approx(0.6) and adv[0, 4].item() == pytest.approx(0.538)
    # The segment before the tool call still sees the outcome: A_1 = 0.9 * 0.2 - 0.6 + 0.63 * 0.538.
    assert adv[0, 1].item() == pytest.approx(0.18 - 0.6 + 0.63 * 0.538)


def test_value_loss_is_clipped():
    # V moved 0.5 -> 1.0, clip 0.2 keeps 0.7; max((1.0 - 0.9)^2, (0.7 - 0.9)^2) / 2 = 0.02.
    got = value_loss(torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([0.9]), clip=0.2)
    assert got.item() == pytest.approx(0.02, abs=1e-6)


def _traj(i, prompt_id, reward, prompt=(5, 6), response=(7, 8, 9), mask=(1, 0, 1)):
    return Trajectory(f"t{i}", prompt_id, list(prompt), list(response), list(mask), reward)


def test_dynamic_filtering_keeps_the_groups_inside_the_band():
    batch = [_traj(0, "a", 1.0), _traj(1, "a", 0.0), _traj(2, "b", 1.0), _traj(3, "b", 1.0), _traj(4, "c", 0.0)]
    kept, filtered = filter_groups(batch, 0.0, 1.0)
    assert [t.id for t in kept] == ["t0", "t1"]
    assert filtered == 2
    # Group a (mean 0.5) is also above a band ending at 0.4.
    assert filter_groups(batch, 0.0, 0.4) == ([], 3)


@pytest.mark.parametrize("case", json.loads(BAND_CASES.read_text())["cases"], ids=lambda c: c["why"])
def test_band_rule_agrees_with_the_shared_cases(case):
    """The same cases test/trainer/dynamicFiltering.test.ts runs against common/dynamicFiltering.ts."""
    rewards = case["rewards"]
    total = 0.0
    for reward in rewards:  # summed in order, as both implementations do
        total += reward
    assert keeps_group(total / len(rewards), *case["band"]) is case["kept"]


def test_pack_aligns_action_mask_with_targets():
    packed = pack([_traj(0, "a", 1.0), _traj(1, "a", 0.0, prompt=(5,), response=(7,), mask=(1,))], pad_token_id=0)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 7, 0, 0, 0]]
    # Targets are input_ids[:, 1:]: column 1 predicts token 7 (the first response token).
    assert packed.action_mask.tolist() == [[0, 1, 0, 1], [1, 0, 0, 0]]
    assert packed.response_mask.tolist() == [[0, 1, 1, 1], [1, 0, 0, 0]]
    assert packed.last_action_index.tolist() == [3, 0]
    # A response ending in tool output: the outcome reward goes on its last model token.
    ends_in_tool = pack([_traj(0, "a", 1.0, response=(7, 8, 9), mask=(1, 1, 0))], pad_token_id=0)
    assert ends_in_tool.last_action_index.tolist() == [2]
