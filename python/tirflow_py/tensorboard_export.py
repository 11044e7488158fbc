"""A run's metrics.jsonl as TensorBoard event files, written with tensorboardX.

    python -m tirflow_py.tensorboard_export RUNS/ID/metrics.jsonl OUT_DIR

Every numeric field of a step's record becomes a scalar tagged by its path
(`rollout/codeRatio`, `update/loss`, `evaluation/accuracy`, `timings/rolloutS`,
`rollout/accuracyByLevel/L3`, ...) at that step, so TensorBoard shows what `tirflow report`
charts, beside other experiments. The folder is rewritten whole from metrics.jsonl each time
(built beside it, then swapped in), so running it again, or while the run goes on, is safe.
`tirflow tensorboard RUN` calls this.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from pathlib import Path

from tensorboardX import SummaryWriter

# Record fields that are identities, not measurements.
_NOT_SCALARS = {"step", "policyVersion"}


def scalars(value: object, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a record by their '/'-joined path; booleans and text are skipped."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            if not prefix and key in _NOT_SCALARS:
                continue
            out.update(scalars(child, f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        out[prefix] = float(value)
    return out


def export(metrics_path: Path, out_dir: Path) -> int:
    """Writes the event files; returns the number of steps written."""
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    records.sort(key=lambda record: record["step"])
    temp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    writer = SummaryWriter(logdir=str(temp))
    try:
        for record in records:
            for tag, number in scalars(record).items():
                writer.add_scalar(tag, number, global_step=int(record["step"]))
    finally:
        writer.close()
    old = out_dir.with_name(f"{out_dir.name}.old-{os.getpid()}")
    if out_dir.exists():
        out_dir.rename(old)
    temp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", type=Path, help="a run's metrics.jsonl")
    parser.add_argument("out", type=Path, help="folder for the run's event files (replaced)")
    args = parser.parse_args()
    if not args.metrics.is_file():
        parser.exit(2, f"no metrics file at {args.metrics}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    steps = export(args.metrics, args.out)
    print(json.dumps({"steps": steps, "out": str(args.out)}))


if __name__ == "__main__":
    main()
