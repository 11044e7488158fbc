"""The settings record read from settings.schema.json (generated from common/config.ts)."""

import pytest

from tirflow_py.trainer.errors import TrainerError
from tirflow_py.trainer.settings import SCHEMA, default_settings, masked_reasons, parse_settings


def test_defaults_parse_and_every_setting_is_an_attribute():
    settings = parse_settings(default_settings())
    for name in SCHEMA:
        assert hasattr(settings, name)
    assert settings.learning_rate == SCHEMA["learning_rate"]["default"]


@pytest.mark.parametrize(
    "override,message",
    [
        ({"learning_rate": 0}, "learning_rate (trainer.learningRate) must be > 0"),
        ({"learning_rate": float("nan")}, "must be a finite number"),
        ({"micro_batch_size": 2.5}, "must be a finite integer"),
        ({"algorithm": "dpo"}, "must be one of"),
        ({"mask_truncated": 1}, "must be true or false"),
        ({"temperature": 2.5}, "temperature"),
        ({"filter_reward_low": 0.8, "filter_reward_high": 0.5}, "the filter band (0.8, 0.5) is empty"),
        ({"dual_clip": 0.5}, "dual_clip must be 0 (off) or above 1"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(override, message):
    with pytest.raises(TrainerError) as caught:
        parse_settings(default_settings(**override))
    assert caught.value.type == "InvalidSettings" and caught.value.retryable is False
    assert message in caught.value.message


def test_missing_and_unknown_keys_are_refused():
    record = default_settings()
    del record["weight_decay"]
    with pytest.raises(TrainerError, match=r"missing trainer settings: weight_decay \(trainer.weightDecay\)"):
        parse_settings(record)
    with pytest.raises(TrainerError, match="unknown trainer settings: warmup"):
        parse_settings({**default_settings(), "warmup": 0.1})
    with pytest.raises(ValueError):
        default_settings(warmup=0.1)


def test_the_mask_switches_name_the_reasons_score_writes():
    settings = parse_settings(default_settings(mask_truncated=True, mask_unpaired_code=True))
    assert masked_reasons(settings) == {"truncated", "unpairedCode"}
