"""parse_trajectory: every malformed scored.jsonl field is refused, naming the trajectory."""

import math

import pytest

from tirflow_py.trainer.batch import parse_trajectory
from tirflow_py.trainer.errors import TrainerError

VOCAB = 100


def row(**overrides: object) -> dict:
    base = {
        "id": "s1-p0-n0",
        "promptId": "p0",
        "promptTokenIds": [1, 2, 3],
        "responseTokenIds": [4, 5, 6, 7],
        "actionMask": [1, 0, 0, 1],
        "reward": 1.0,
        "behaviourLogprobs": [-0.5, 0, 0.0, -1],
        "turnPolicyVersions": [0, 1],
    }
    base.update(overrides)
    return base


def test_a_valid_row_parses_with_its_values():
    parsed = parse_trajectory(row(), "scored.jsonl:1", VOCAB)
    assert parsed.response_token_ids == [4, 5, 6, 7]
    assert parsed.action_mask == [1, 0, 0, 1]
    assert parsed.behaviour_logprobs == [-0.5, 0.0, 0.0, -1.0]
    assert all(isinstance(x, float) for x in parsed.behaviour_logprobs)
    assert parsed.turn_policy_versions == [0, 1]


def test_empty_responses_and_absent_logprobs_are_accepted():
    parsed = parse_trajectory(
        row(responseTokenIds=[], actionMask=[], behaviourLogprobs=None), "scored.jsonl:1", VOCAB
    )
    assert parsed.response_token_ids == [] and parsed.behaviour_logprobs is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"promptTokenIds": [1, True, 3]}, "promptTokenIds must be a list of integers"),
        ({"responseTokenIds": [4, 5.0, 6, 7]}, "responseTokenIds must be a list of integers"),
        ({"responseTokenIds": "4 5 6 7"}, "responseTokenIds must be a list of integers"),
        ({"responseTokenIds": [4, 5, 6, VOCAB]}, "outside the vocabulary"),
        ({"promptTokenIds": [-1, 2, 3]}, "outside the vocabulary"),
        ({"actionMask": [1, 0, 2, 1]}, "actionMask must be a list of 0/1"),
        ({"actionMask": [1, 0, False, 1]}, "actionMask must be a list of 0/1"),
        ({"actionMask": [1, 0, 0.0, 1]}, "actionMask must be a list of 0/1"),
        ({"actionMask": [1, 0, 0]}, "actionMask has 3 entries"),
        ({"behaviourLogprobs": [-0.5, math.nan, 0.0, -1.0]}, "behaviourLogprobs must be a list of finite numbers"),
        ({"behaviourLogprobs": [-0.5, -math.inf, 0.0, -1.0]}, "behaviourLogprobs must be a list of finite numbers"),
        ({"behaviourLogprobs": [-0.5, True, 0.0, -1.0]}, "behaviourLogprobs must be a list of finite numbers"),
        ({"behaviourLogprobs": [-0.5, "0", 0.0, -1.0]}, "behaviourLogprobs must be a list of finite numbers"),
        ({"behaviourLogprobs": [-0.5, 0.0]}, "behaviourLogprobs has 2 entries"),
        ({"promptTokenIds": []}, "promptTokenIds is empty"),
        ({"reward": math.inf}, "reward must be a finite number"),
        ({"turnPolicyVersions": [0, -1]}, "turnPolicyVersions must be a list"),
    ],
)
def test_malformed_fields_are_refused_naming_the_trajectory(overrides, message):
    with pytest.raises(TrainerError) as caught:
        parse_trajectory(row(**overrides), "scored.jsonl:7", VOCAB)
    assert caught.value.type == "InvalidTrajectory" and caught.value.retryable is False
    assert message in caught.value.message
    assert "trajectory s1-p0-n0 (scored.jsonl:7)" in caught.value.message
