"""A refilled step trains on exactly its batch: the first `max_groups` kept groups."""

from tirflow_py.trainer.batch import Trajectory, first_groups


def _trajectory(prompt_id: str, sample: int) -> Trajectory:
    return Trajectory(
        id=f"{prompt_id}-{sample}",
        prompt_id=prompt_id,
        prompt_token_ids=[1],
        response_token_ids=[2],
        action_mask=[1],
        reward=float(sample % 2),
    )


def test_first_groups_keeps_whole_groups_in_order_of_first_appearance():
    rows = [_trajectory(p, s) for p in ("b", "a", "c") for s in range(2)]
    rows.append(_trajectory("a", 2))  # a late sample of an early group stays with it
    kept = first_groups(rows, 2)
    assert [t.id for t in kept] == ["b-0", "b-1", "a-0", "a-1", "a-2"]
    assert first_groups(rows, None) == rows
    assert first_groups(rows, 10) == rows
