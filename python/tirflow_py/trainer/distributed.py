"""What changes when the trainer runs under torchrun: ranks, the request channel, FSDP2 sharding.

`torchrun --nproc-per-node G -m tirflow_py.trainer` starts G copies of the trainer. Rank 0 alone
speaks the protocol (stdin/stdout): it broadcasts each request line to the other ranks over a CPU
(gloo) control group, every rank executes the command, and rank 0 answers. The policy (and the
critic and reference) are sharded with FSDP2, `fully_shard` per decoder layer and then the root;
each rank computes its slice of every mini-batch and FSDP's reduce-scatter sums the gradients, so
one update equals the single-process update. Checkpoints are gathered into full (unsharded) state
dicts on rank 0, in the single-process file format, and only rank 0 writes them.

`Distributed()` is the lone process (world size 1): every method is what one process does on its
own, so plain `python -m tirflow_py.trainer` runs exactly the single-process path.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from datetime import timedelta
from typing import Iterable, Iterator, TextIO

import torch
from torch import nn

# The control group waits for the next request while rollouts run (minutes to days when a run is
# paused): a dead rank is torchrun's to detect (it stops the whole group), not a timeout's.
CONTROL_TIMEOUT = timedelta(days=365)
# Exit code of a rank that stops the whole group (an unexpected error, ranks that disagree).
FATAL_EXIT = 71


def chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


class Distributed:
    """One process, no peers."""

    rank = 0
    world = 1
    local_rank = 0

    @property
    def is_writer(self) -> bool:
        """Rank 0 answers requests, writes checkpoints and exports ONNX."""
        return self.rank == 0

    def requests(self, stdin: TextIO) -> Iterable[str]:
        return stdin

    def device(self, device: torch.device) -> torch.device:
        return device

    def shard(self, module: nn.Module) -> nn.Module:
        return module

    def local_chunks(self, indices: list[int], size: int) -> list[tuple[list[int], float]]:
        """This rank's micro-batches of `indices` as (chunk, weight). Under torchrun every rank runs
        the same number of micro-batches (FSDP's collectives pair up); a rank with fewer sequences
        runs padding micro-batches of weight 0: their loss and statistics are multiplied by it.
        The one place a padding micro-batch is told apart."""
        return [(chunk, 1.0) for chunk in chunks(indices, size)]

    def gather_rows(self, rows: dict[str, dict[int, torch.Tensor]]) -> dict[str, dict[int, torch.Tensor]]:
        """Per-trajectory tensors computed by each rank for its trajectories -> every trajectory's."""
        return rows

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_grad_norm(self, parameters: Iterable[nn.Parameter], max_norm: float) -> float:
        return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))

    def sum_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        return values

    def decide(self, value):
        """Rank 0's value on every rank (a filesystem check every rank must act on the same way)."""
        return value

    def full_state_dict(self, module: nn.Module) -> dict | None:
        """The module's unsharded state dict; None off rank 0."""
        return module.state_dict()

    def full_optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict | None:
        """optimizer.state_dict() of the unsharded parameters (the file format); None off rank 0."""
        return optimizer.state_dict()

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        optimizer.load_state_dict(state)

    def agree(self, outcome: str | None) -> bool:
        """Every rank's outcome of a command (None = ok, else the error type); False when a rank
        other than 0 failed differently from rank 0, which leaves the ranks out of step."""
        return True

    def fatal(self, err: BaseException) -> None:
        """An unexpected error: the single process reports it and goes on (the request may be retried)."""

    def close(self) -> None:
        pass


class Torchrun(Distributed):
    """One of WORLD_SIZE ranks started by torchrun (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.rank = int(os.environ["RANK"])
        self.world = int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            # One GPU per rank; NCCL carries the FSDP collectives of CUDA tensors, gloo the CPU ones.
            torch.cuda.set_device(self.local_rank)
            dist.init_process_group(backend="cpu:gloo,cuda:nccl")
        else:
            dist.init_process_group(backend="gloo")
        self._control = dist.new_group(backend="gloo", timeout=CONTROL_TIMEOUT)
        self._meshes: dict[str, object] = {}

    def requests(self, stdin: TextIO) -> Iterator[str]:
        import torch.distributed as dist

        if self.is_writer:
            for line in stdin:
                dist.broadcast_object_list([line], src=0, group=self._control)
                yield line
            dist.broadcast_object_list([None], src=0, group=self._control)  # stdin closed: all ranks end
            return
        while True:
            message: list[str | None] = [None]
            dist.broadcast_object_list(message, src=0, group=self._control)
            if message[0] is None:
                return
            yield message[0]

    def device(self, device: torch.device) -> torch.device:
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def _mesh(self, device_type: str):
        from torch.distributed.device_mesh import init_device_mesh

        if device_type not in self._meshes:
            self._meshes[device_type] = init_device_mesh(device_type, (self.world,))
        return self._meshes[device_type]

    def shard(self, module: nn.Module) -> nn.Module:
        """FSDP2: each decoder layer is one unit (its parameters are gathered for its forward and
        backward only), the root holds the rest (embeddings, a tied LM head, norms, heads)."""
        from torch.distributed.fsdp import fully_shard

        device = next(module.parameters()).device
        mesh = self._mesh(device.type)
        layer_classes = {name for m in module.modules() for name in (getattr(m, "_no_split_modules", None) or [])}
        for sub in module.modules():
            if sub is not module and type(sub).__name__ in layer_classes:
                fully_shard(sub, mesh=mesh)
        fully_shard(module, mesh=mesh)
        return module

    def local_chunks(self, indices: list[int], size: int) -> list[tuple[list[int], float]]:
        mine = [(chunk, 1.0) for chunk in chunks(indices[self.rank :: self.world], size)]
        rounds = math.ceil(math.ceil(len(indices) / self.world) / size)  # the busiest rank's count
        return mine + [([indices[0]], 0.0)] * (rounds - len(mine))

    def gather_rows(self, rows: dict[str, dict[int, torch.Tensor]]) -> dict[str, dict[int, torch.Tensor]]:
        import torch.distributed as dist

        gathered: list[dict | None] = [None] * self.world
        dist.all_gather_object(gathered, rows, group=self._control)
        merged: dict[str, dict[int, torch.Tensor]] = {name: {} for name in rows}
        for part in gathered:
            for name, by_index in (part or {}).items():
                merged[name].update(by_index)
        return merged

    def backward(self, loss: torch.Tensor) -> None:
        # The loss is already divided by the whole mini-batch's token (or sequence) count, so the
        # update needs the sum of the ranks' gradients; FSDP's reduce-scatter averages them.
        (loss * self.world).backward()

    def clip_grad_norm(self, parameters: Iterable[nn.Parameter], max_norm: float) -> float:
        from torch.distributed.tensor import DTensor

        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        return float(norm.full_tensor() if isinstance(norm, DTensor) else norm)

    def sum_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        import torch.distributed as dist

        names = sorted(values)
        totals = torch.tensor([float(values[name]) for name in names], dtype=torch.float64)
        dist.all_reduce(totals, group=self._control)
        return dict(zip(names, totals.tolist()))

    def decide(self, value):
        import torch.distributed as dist

        message = [value]
        dist.broadcast_object_list(message, src=0, group=self._control)
        return message[0]

    def full_state_dict(self, module: nn.Module) -> dict | None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if not self.is_writer:
            return None
        # Tied parameters (an LM head sharing the embedding) come back as two copies: alias them
        # again so save_pretrained drops the duplicate as it does for the unsharded model.
        first_name: dict[int, str] = {}
        for name, value in module.state_dict(keep_vars=True).items():
            alias = first_name.setdefault(id(value), name)
            if alias != name and alias in full and name in full:
                full[name] = full[alias]
        return full

    def full_optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict | None:
        from torch.distributed.tensor import DTensor

        local = optimizer.state_dict()
        state: dict[int, dict] = {}
        for index, entries in local["state"].items():  # the same order on every rank: gathers pair up
            full = {}
            for key, value in entries.items():
                if isinstance(value, DTensor):
                    value = value.full_tensor()
                full[key] = value.cpu() if torch.is_tensor(value) else value
            if self.is_writer:
                state[index] = full
        return {"state": state, "param_groups": local["param_groups"]} if self.is_writer else None

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """Every rank read the full state from the file; each keeps its shard of each tensor."""
        from torch.distributed.tensor import DTensor

        params = [p for group in optimizer.param_groups for p in group["params"]]
        local_state = {}
        for index, entries in state["state"].items():
            param = params[int(index)]
            local_state[index] = {
                key: self._shard_like(value, param) if isinstance(param, DTensor) else value
                for key, value in entries.items()
            }
        optimizer.load_state_dict({"state": local_state, "param_groups": state["param_groups"]})

    @staticmethod
    def _shard_like(value, param):
        """This rank's shard of a full optimizer tensor (exp_avg, exp_avg_sq), placed as its
        parameter is; scalars (step) stay as they are. No communication: each rank slices."""
        from torch.distributed.tensor import distribute_tensor

        if not torch.is_tensor(value) or value.shape != param.shape:
            return value
        return distribute_tensor(value.to(param.device), param.device_mesh, param.placements, src_data_rank=None)

    def agree(self, outcome: str | None) -> bool:
        import torch.distributed as dist

        outcomes: list[str | None] = [None] * self.world
        dist.all_gather_object(outcomes, outcome, group=self._control)
        # A command only rank 0 runs (export_onnx) may fail on rank 0 alone; any other difference
        # means a rank skipped work its peers did.
        return all(other is None or other == outcomes[0] for other in outcomes[1:])

    def fatal(self, err: BaseException) -> None:
        """An unexpected error on one rank may leave its peers inside a collective: stop this rank
        at once; torchrun then stops the others and exits non-zero, and the trainer worker starts
        a new group that reloads the last checkpoint."""
        sys.stderr.write(f"[trainer rank {self.rank}] fatal: {type(err).__name__}: {err}\n")  # one write: see log()
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        os._exit(FATAL_EXIT)

    def close(self) -> None:
        import torch.distributed as dist

        dist.destroy_process_group()


def from_environment() -> Distributed:
    """Torchrun when launched by torchrun (it sets WORLD_SIZE, also for one process), else one process."""
    return Torchrun() if "WORLD_SIZE" in os.environ else Distributed()
