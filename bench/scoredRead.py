"""The trainer's read of scored trajectories at paper size: read_scored vs per-element checks.

Run: cd python && uv run --frozen python ../bench/scoredRead.py [--trajectories 128] [--tokens 5000]

Writes one shard's scored.jsonl (128 trajectories of ~5,000 response tokens by default, the dry
run's mean; see docs/scaling-out.md) and times, in the same process, tirflow's read_scored and
the baseline: the same parse with the per-element generator checks read_scored used before
(kept below verbatim as the baseline). Prints CPU seconds of each (best of --repeats) and the
ratio. Both must accept the file and return the same trajectories.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

from tirflow_py.trainer import batch
from tirflow_py.trainer.batch import read_scored

VOCAB = 151_665  # Qwen2.5's


def write_shard(path: Path, trajectories: int, tokens: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(trajectories):
            length = rng.randint(tokens // 2, tokens * 3 // 2)
            response = [rng.randrange(VOCAB) for _ in range(length)]
            mask = [0 if (i // 200) % 5 == 4 else 1 for i in range(length)]
            row = {
                "id": f"s1-p{n // 16}-n{n % 16}",
                "promptId": f"p{n // 16}",
                "promptTokenIds": [rng.randrange(VOCAB) for _ in range(120)],
                "responseTokenIds": response,
                "actionMask": mask,
                "reward": float(n % 2),
                "behaviourLogprobs": [(-rng.random() * 3 if m else 0.0) for m in mask],
                "turnPolicyVersions": [0, 0, 0],
            }
            out.write(json.dumps(row) + "\n")


# The baseline: read_scored's checks as they were before bench/scoredRead.py (per element).
def baseline_token_list(value, field, where, vocab_size):
    if not isinstance(value, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        raise batch._invalid(where, f"{field} must be a list of integers")
    if vocab_size is not None and any(t < 0 or t >= vocab_size for t in value):
        raise batch._invalid(where, f"{field} has a token id outside the vocabulary [0, {vocab_size})")
    return value


def baseline_read(path: Path, vocab_size: int):
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        where = "baseline"
        prompt = baseline_token_list(row["promptTokenIds"], "promptTokenIds", where, vocab_size)
        response = baseline_token_list(row["responseTokenIds"], "responseTokenIds", where, vocab_size)
        mask = row["actionMask"]
        if not all(m in (0, 1) and not isinstance(m, bool) for m in mask):
            raise batch._invalid(where, "actionMask must be a list of 0/1")
        behaviour = row["behaviourLogprobs"]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in behaviour):
            raise batch._invalid(where, "behaviourLogprobs must be a list of finite numbers")
        rows.append((row["id"], prompt, response, mask, [float(x) for x in behaviour]))
    return rows


def best_cpu_seconds(run, repeats: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.process_time()
        result = run()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=5000, help="mean response tokens")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scored.jsonl"
        write_shard(path, args.trajectories, args.tokens, seed=1)
        size_mb = path.stat().st_size / 1e6
        ours_s, ours = best_cpu_seconds(lambda: read_scored([str(path)], VOCAB), args.repeats)
        base_s, base = best_cpu_seconds(lambda: baseline_read(path, VOCAB), args.repeats)
    same = [(t.id, t.prompt_token_ids, t.response_token_ids, t.action_mask, t.behaviour_logprobs) for t in ours] == base
    if not same:
        raise SystemExit("read_scored and the baseline disagree on the trajectories")
    tokens = sum(len(t.response_token_ids) for t in ours)
    print(f"one shard: {len(ours)} trajectories, {tokens:,} response tokens, {size_mb:.1f} MB (best of {args.repeats}, CPU s)")
    print(f"  baseline (per-element checks)   {base_s:7.3f} s")
    print(f"  read_scored (whole-list checks) {ours_s:7.3f} s")
    print(f"  ratio baseline / read_scored    {base_s / ours_s:7.2f}x")


if __name__ == "__main__":
    main()
