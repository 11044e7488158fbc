"""metrics.jsonl → TensorBoard event files: every numeric field at its step, read back."""

import json
import struct
from pathlib import Path

from tensorboardX.proto import event_pb2

from tirflow_py.tensorboard_export import export, scalars


def _events(folder: Path) -> list[event_pb2.Event]:
    """Reads TFRecord event files: length (u64), its crc, the Event bytes, their crc."""
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            body = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4
            event = event_pb2.Event()
            event.ParseFromString(body)
            events.append(event)
    return events


def test_every_numeric_field_becomes_a_scalar_at_its_step(tmp_path: Path):
    records = [
        {
            "step": step,
            "policyVersion": step,
            "rollout": {"accuracy": 0.1 * step, "codeRatio": 0.5, "accuracyByLevel": {"L3": 0.25}},
            "update": {"loss": -0.01 * step, "logprobGap": None},
            "evaluation": None,
            "timings": {"rolloutS": 3.5, "updateS": 2.0},
            "skipped": [{"id": "step-1/shard-0", "what": "rollout shard", "error": "x"}],
        }
        for step in (2, 1)
    ]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "tb" / "run-a"
    assert export(metrics, out) == 2

    seen = {
        (value.tag, event.step, round(value.simple_value, 6))
        for event in _events(out)
        for value in event.summary.value
    }
    assert ("rollout/accuracy", 1, 0.1) in seen
    assert ("rollout/accuracy", 2, 0.2) in seen
    assert ("rollout/accuracyByLevel/L3", 2, 0.25) in seen
    assert ("update/loss", 2, -0.02) in seen
    assert ("timings/rolloutS", 1, 3.5) in seen
    tags = {tag for tag, _, _ in seen}
    assert "step" not in tags and "policyVersion" not in tags
    assert not any(tag.startswith("skipped") or tag.endswith("logprobGap") for tag in tags)

    # Running it again replaces the folder: the same scalars, not twice as many.
    assert export(metrics, out) == 2
    again = [v for e in _events(out) for v in e.summary.value]
    assert len(again) == len(seen)
    assert not any(p.name.startswith("run-a.") for p in out.parent.iterdir())


def test_scalars_skips_booleans_and_text():
    assert scalars({"a": True, "b": "x", "c": {"d": 2}}) == {"c/d": 2.0}
