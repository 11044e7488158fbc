"""The trainer's log lines stay whole when torchrun ranks share one stderr pipe, even with
PYTHONUNBUFFERED set (where print() writes a line's text and its newline separately)."""

import os
import subprocess
import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
LINES = 50_000
# Both ranks import torch first (seconds); they then wait for a common start file so that their
# writes overlap.
WRITER = f"""
import os, sys, time
from tirflow_py.trainer.trainer import log
open(sys.argv[1], "w").close()
while not all(os.path.exists(p) for p in sys.argv[1:]):
    time.sleep(0.001)
for i in range({LINES}):
    log(f"line {{i}} of a rank that shares the pipe")
"""


def test_two_ranks_writing_to_one_pipe_never_interleave_a_line(tmp_path):
    ready = [str(tmp_path / f"rank-{rank}-ready") for rank in (0, 1)]
    read_end, write_end = os.pipe()
    ranks = []
    for rank in (0, 1):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "WORLD_SIZE": "2", "RANK": str(rank)}
        command = [sys.executable, "-c", WRITER, ready[rank], ready[1 - rank]]
        ranks.append(subprocess.Popen(command, cwd=PYTHON_DIR, env=env, stderr=write_end, stdout=subprocess.DEVNULL))
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        lines = pipe.read().splitlines()
    for process in ranks:
        assert process.wait(timeout=60) == 0
    whole = [line for line in lines if line.startswith("[trainer rank ") and line.endswith("shares the pipe")
             and line.count("[trainer") == 1]
    broken = [line for line in lines if not line.endswith("shares the pipe") or line.count("[trainer") != 1]
    assert len(whole) == 2 * LINES, broken[:3]
