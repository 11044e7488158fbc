"""Baseline for bench/generation.ts: torch CPU generation (transformers `generate`, KV cache).

Reads a JSON request on stdin:
  {"model": DIR, "prompts": [[ids...], ...], "batchSizes": [1, 8, ...], "newTokens": N,
   "warmupTokens": W, "seed": S}
For each batch size B it generates W tokens untimed (warm-up), then N new tokens (EOS ignored,
so every run has the same length) for the first B prompts, left-padded, sampling at
temperature 1, and reports tokens per second and per CPU-second of the second run. It also
measures the machine's fp32 matmul rate, for the FLOP-bound estimate.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    import torch

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    elapsed = time.perf_counter() - start
    return 2 * size**3 * repeats / elapsed / 1e9


def run(request: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(request["model"], dtype=torch.float32).eval()
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    prompts: list[list[int]] = request["prompts"]
    new_tokens = int(request["newTokens"])

    def generate(batch: int, count: int) -> tuple[int, float, float]:
        """(tokens, wall seconds, CPU seconds of the process: all threads)."""
        rows = [prompts[i % len(prompts)] for i in range(batch)]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        torch.manual_seed(int(request["seed"]))
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=mask,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=count,
                min_new_tokens=count,
                use_cache=True,
                pad_token_id=pad_id,
            )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return (out.shape[1] - width) * batch, elapsed, cpu

    warmup_tokens = int(request.get("warmupTokens", 4))
    generate(1, new_tokens)  # warm up allocator and kernels
    results = []
    for batch in request["batchSizes"]:
        generate(int(batch), warmup_tokens)  # untimed, at this batch size (as the onnx side does)
        tokens, seconds, cpu = generate(int(batch), new_tokens)
        results.append(
            {
                "batch": batch,
                "tokens": tokens,
                "seconds": seconds,
                "tokensPerSecond": tokens / seconds,
                "tokensPerCpuSecond": tokens / cpu,
            }
        )
    return {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "matmulGflops": matmul_gflops(),
        "results": results,
    }


def main() -> None:
    print(json.dumps(run(json.loads(sys.stdin.read()))))


if __name__ == "__main__":
    main()
