"""The line-delimited JSON protocol: one request line in, progress lines and one response out.

  request   {"id": n, "cmd": "...", ...arguments}
  progress  {"id": n, "progress": {...}}            (zero or more, while the command runs)
  response  {"id": n, "ok": true, ...result}
            {"id": n, "ok": false, "error": {"type", "message", "retryable"}}

stdout carries only protocol lines: Python-level prints are redirected to stderr (logs).
Under torchrun only rank 0 reads stdin and writes stdout; every rank executes each request
(see distributed.py).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Callable, TextIO

import torch

from .distributed import Distributed, from_environment
from .errors import TrainerError
from .trainer import Trainer, log

Handler = Callable[[Trainer, dict], dict]


def _require(request: dict, name: str):
    if name not in request:
        raise TrainerError("InvalidRequest", f"`{request.get('cmd')}` needs `{name}`")
    return request[name]


COMMANDS: dict[str, Handler] = {
    "ping": lambda t, r: {"pid": os.getpid(), "torch": torch.__version__, **t.describe()},
    "load": lambda t, r: t.load(_require(r, "path"), r.get("device", "auto"), int(r.get("version", 0))),
    "train_step": lambda t, r: t.train_step(
        int(_require(r, "step")),
        list(_require(r, "scored_paths")),
        str(_require(r, "checkpoint_dir")),
        r.get("settings"),
        bool(r.get("export_onnx", False)),
        None if r.get("max_groups") is None else int(r["max_groups"]),
    ),
    "save": lambda t, r: t.save(str(_require(r, "checkpoint_dir"))),
    "export_onnx": lambda t, r: t.export_onnx(r.get("model_dir"), str(_require(r, "out_dir"))),
    "logprobs": lambda t, r: {"logprobs": t.logprobs(_require(r, "sequences"), float(r.get("temperature", 1.0)))},
    "shutdown": lambda t, r: {"bye": True},
}


def _error(err: BaseException) -> dict:
    if isinstance(err, TrainerError):
        return err.to_json()
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return {"type": "OutOfMemory", "message": str(err), "retryable": True}
    # Unknown failures may be transient (I/O, a flaky device): let the activity retry.
    return {"type": type(err).__name__, "message": str(err), "retryable": True}


def _encode(message: dict) -> str:
    # allow_nan=False: a non-finite number in a result fails while the request is handled, as an error.
    return json.dumps(message, allow_nan=False, default=float) + "\n"


def serve(stdin: TextIO, stdout: TextIO, dist: Distributed | None = None) -> None:
    dist = dist or Distributed()

    def write(line: str) -> None:
        if dist.is_writer:
            stdout.write(line)
            stdout.flush()

    def send(message: dict) -> None:
        write(_encode(message))

    current_id: list[object] = [None]
    trainer = Trainer(progress=lambda event: send({"id": current_id[0], "progress": event}), dist=dist)
    log(f"ready (pid {os.getpid()}, torch {torch.__version__})")
    for line in dist.requests(stdin):
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
        except ValueError as err:
            send({"id": None, "ok": False, "error": {"type": "InvalidRequest", "message": str(err), "retryable": False}})
            continue
        current_id[0] = request.get("id")
        cmd = request.get("cmd")
        handler = COMMANDS.get(cmd) if isinstance(cmd, str) else None
        try:
            if handler is None:
                raise TrainerError("UnknownCommand", f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}")
            outcome = None
            reply = _encode({"id": current_id[0], "ok": True, **handler(trainer, request)})
        except TrainerError as err:
            outcome = err.type
            reply = _encode({"id": current_id[0], "ok": False, "error": _error(err)})
        except Exception as err:  # noqa: BLE001 - every failure becomes a protocol error
            traceback.print_exc(file=sys.stderr)
            send({"id": current_id[0], "ok": False, "error": _error(err)})
            dist.fatal(err)  # under torchrun: the group stops (its peers may be stuck mid-collective)
            continue
        if not dist.agree(outcome):
            err = TrainerError("RanksDiverged", f"`{cmd}` ended differently on the trainer's ranks", retryable=True)
            send({"id": current_id[0], "ok": False, "error": err.to_json()})
            dist.fatal(err)
        write(reply)
        if cmd == "shutdown":
            break
    log("exiting")


def main() -> None:
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # library prints must never corrupt the protocol stream
    dist = from_environment()
    try:
        serve(sys.stdin, protocol_out, dist)
    finally:
        dist.close()
