"""Atomic checkpoint directories, the step log, and the crash fault switch.

A checkpoint is written into `<dir>.tmp-<pid>` and renamed to `<dir>` as the last act, so a
directory under the final name is complete by construction: exactly-once per step rests on it.

Layout of `<dir>`:
  hf/        save_pretrained (safetensors) + tokenizer files + generation_config: the policy
  trainer/   optimizer.pt, rng.pt (and critic.pt, critic_optimizer.pt for PPO)
  onnx/      the ONNX export for the `onnx` engine (when requested)
  meta.json  step, policy version, metrics, base model dir
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

META_FILE = "meta.json"
STEP_LOG = "trainer-steps.log"
# Test fault switch: exit hard halfway through writing this step's checkpoint, once per run.
FAULT_ENV = "TIRFLOW_FAULT_TRAINER_CRASH_AT_STEP"
# Test fault switch: hang before training this step (a stuck device or a deadlocked collective),
# so a test can kill the worker while the update is certainly in progress.
STALL_ENV = "TIRFLOW_FAULT_TRAINER_STALL_AT_STEP"
STALL_SECONDS = 600


def is_complete(checkpoint_dir: Path) -> bool:
    return (checkpoint_dir / META_FILE).is_file()


def read_meta(checkpoint_dir: Path) -> dict:
    return json.loads((checkpoint_dir / META_FILE).read_text())


def remove_partial(checkpoint_dir: Path) -> list[Path]:
    """Removes temp dirs a crashed writer left next to checkpoint_dir; returns what it removed."""
    removed = []
    for leftover in checkpoint_dir.parent.glob(f"{checkpoint_dir.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def write_atomically(checkpoint_dir: Path, write: Callable[[Path], None], meta: dict) -> bool:
    """write(temp_dir) fills a temp dir; meta.json is written last, then the dir is renamed.

    Returns False when another writer committed the same directory first (its copy wins:
    both came from the same step, and a committed checkpoint is never replaced)."""
    checkpoint_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_partial(checkpoint_dir)
    temp = checkpoint_dir.parent / f"{checkpoint_dir.name}.tmp-{os.getpid()}"
    try:
        write(temp)
        maybe_crash(meta.get("step"), checkpoint_dir.parent)
        (temp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        _fsync_tree(temp)
        try:
            os.rename(temp, checkpoint_dir)
        except OSError:
            if not is_complete(checkpoint_dir):
                raise
            shutil.rmtree(temp, ignore_errors=True)
            return False
        return True
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def maybe_crash(step: int | None, checkpoint_root: Path) -> None:
    """TIRFLOW_FAULT_TRAINER_CRASH_AT_STEP=N: the first time step N's checkpoint is half-written,
    exit the process hard (no cleanup, like a kill -9 or an OOM kill). A marker file in the
    checkpoint root makes it fire once, so the retried step succeeds."""
    target = os.environ.get(FAULT_ENV)
    if target is None or step is None or str(step) != target.strip():
        return
    marker = checkpoint_root / f".fault-trainer-crash-step-{step}.fired"
    if marker.exists():
        return
    marker.write_text(f"pid {os.getpid()}\n")
    print(f"[trainer] fault injection: {FAULT_ENV}={target}, exiting mid-checkpoint", file=sys.stderr, flush=True)
    os._exit(70)


def maybe_stall(step: int) -> None:
    """TIRFLOW_FAULT_TRAINER_STALL_AT_STEP=N: training step N first sleeps STALL_SECONDS (the
    heartbeat keeps flowing from the worker, as it would for a slow real step)."""
    target = os.environ.get(STALL_ENV)
    if target is None or str(step) != target.strip():
        return
    print(f"[trainer] fault injection: {STALL_ENV}={target}, stalling", file=sys.stderr, flush=True)
    time.sleep(STALL_SECONDS)


def append_step_log(checkpoint_root: Path, record: dict) -> None:
    """One line per step committed by training (never by reuse): proves no step was applied twice."""
    checkpoint_root.mkdir(parents=True, exist_ok=True)
    with open(checkpoint_root / STEP_LOG, "a") as f:
        f.write(json.dumps({**record, "pid": os.getpid(), "time": time.time()}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
