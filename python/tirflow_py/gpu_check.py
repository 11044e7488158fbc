"""GPU check: one policy update of a Qwen2.5-0.5B-shaped model, timed, on the trainer's real path.

    python -m tirflow_py.gpu_check                 # on a GPU host: single GPU, then FSDP2 with one rank
    python -m tirflow_py.gpu_check --tiny          # CPU, a tiny shape (what the test suite runs)

Builds a model with Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads / 2 KV heads, MLP 4864,
vocabulary 151936, tied embeddings) and random weights, writes a synthetic batch of scored
trajectories (half of each group rewarded, a tool-output span masked), and runs `train_step`
through tirflow's Trainer: first as one process (`Distributed()`), then as a one-rank FSDP2 group
(`Torchrun()`, the path `trainer.processesPerNode` takes). Weights and Adam state are fp32, the
forward runs under bf16 autocast (the trainer's GPU numerics). The first step of each path is a
warm-up; the next `--steps` are timed.

Per path it prints the update's tokens/s (prompt + response tokens through forward and backward,
over the update's compute time: old-logprob pass included, checkpoint write excluded) and the
model FLOPs utilisation:

    MFU = update FLOPs / update seconds / peak
    update FLOPs = 4 x sum over sequences of (2 N S + 4 L d S^2)

with S a sequence's length, N the parameters in matmuls (all of them for a tied LM head, else all
but the input embedding), L layers and d the attention width (heads x head dim): one forward of
the old-logprob pass plus forward and backward (3 forwards) of the update (PaLM's accounting,
Chowdhery et al. 2022, appendix B; attention counted without the causal half). The peak is the
dense bf16 tensor-core figure of the detected GPU (PEAK_TFLOPS, from the vendors' data sheets) or
--peak-tflops. It should finish in well under 8 minutes on an H100-class GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Dense bf16 peak TFLOPS by GPU name fragment, most specific first.
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)

QWEN25_05B = dict(
    hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1_000_000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=True,
)
TINY = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=384, max_position_embeddings=2048, tie_word_embeddings=True,
)


@dataclass
class Shape:
    groups: int
    samples: int
    prompt_len: int
    response_len: int
    micro_batch: int
    device: str


def peak_tflops(device_name: str) -> float | None:
    for fragment, tflops in PEAK_TFLOPS:
        if fragment in device_name:
            return tflops
    return None


def log(message: str) -> None:
    print(f"[gpu-check] {message}", flush=True)


def build_model(out: Path, tiny: bool) -> Path:
    """A Hugging Face folder: the fixtures' small tokenizer, a Qwen2 config of the chosen shape,
    random fp32 weights."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tirflow_py.fixtures import make_tiny_random_model

    make_tiny_random_model(out, seed=0)  # tokenizer, generation config and a tiny model
    if tiny:
        return out
    torch.manual_seed(0)
    config = Qwen2Config(**QWEN25_05B, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    Qwen2ForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out


def write_batch(path: Path, shape: Shape, vocab: int) -> Path:
    rng = random.Random(0)
    rows = []
    tool = range(shape.response_len // 2, shape.response_len // 2 + min(32, shape.response_len // 4))
    for g in range(shape.groups):
        prompt = [rng.randrange(1, vocab) for _ in range(shape.prompt_len)]
        for n in range(shape.samples):
            rows.append({
                "id": f"p{g}-n{n}", "promptId": f"p{g}", "promptTokenIds": prompt,
                "responseTokenIds": [rng.randrange(1, vocab) for _ in range(shape.response_len)],
                "actionMask": [0 if i in tool else 1 for i in range(shape.response_len)],
                "reward": float(n % 2),
            })
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def update_flops(model, shape: Shape) -> float:
    config = model.config
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    n = total if config.tie_word_embeddings else total - embedding
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    width = config.num_attention_heads * head_dim
    s = shape.prompt_len + shape.response_len
    forward = 2 * n * s + 4 * config.num_hidden_layers * width * s * s
    return 4.0 * forward * shape.groups * shape.samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_path(name: str, dist, model_dir: Path, scored: Path, work: Path, shape: Shape, steps: int,
             peak: float | None) -> dict:
    import torch

    from tirflow_py.trainer.settings import default_settings
    from tirflow_py.trainer.trainer import Trainer

    trainer = Trainer(dist=dist)
    trainer.load(str(model_dir), shape.device)
    settings = default_settings(
        algorithm="reinforce_pp_baseline", learning_rate=1e-6, micro_batch_size=shape.micro_batch,
        device=shape.device, seed=1,
    )
    flops = update_flops(trainer.model, shape)
    rates, mfus = [], []
    for step in range(1, steps + 2):
        started = time.perf_counter()
        metrics = trainer.train_step(step, [str(scored)], str(work / name / f"step-{step}"), settings)
        wall = time.perf_counter() - started
        shutil.rmtree(work / name / f"step-{step - 1}", ignore_errors=True)  # 6 bytes/param each
        seconds = metrics["update_seconds"]
        mfu = flops / seconds / (peak * 1e12) if peak else None
        warmup = step == 1
        if not warmup:
            rates.append(metrics["tokens_per_second"])
            mfus.append(mfu)
        log(
            f"{name} step {step}{' (warm-up)' if warmup else ''}: {metrics['tokens_per_second']:.0f} tokens/s, "
            f"update {seconds:.2f} s, wall with checkpoint {wall:.1f} s, loss {metrics['loss']:.4f}, "
            f"MFU {f'{100 * mfu:.1f}%' if mfu is not None else 'n/a'}"
        )
    memory = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    del trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    mean_rate = sum(rates) / len(rates)
    mean_mfu = sum(mfus) / len(mfus) if peak else None
    log(
        f"{name}: {mean_rate:.0f} tokens/s over {len(rates)} steps, MFU "
        f"{f'{100 * mean_mfu:.1f}% of {peak} TFLOPS' if mean_mfu is not None else 'n/a (no peak: --peak-tflops)'}"
        + (f", peak GPU memory {memory:.1f} GiB" if memory is not None else "")
    )
    return {"path": name, "tokens_per_second": mean_rate, "mfu": mean_mfu, "update_flops": flops,
            "peak_memory_gib": memory}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU (the test suite's run)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: from its name)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per path after one warm-up (default 2)")
    parser.add_argument("--groups", type=int, help="prompts per batch (default 8; tiny 2)")
    parser.add_argument("--samples", type=int, help="samples per prompt (default 8; tiny 2)")
    parser.add_argument("--prompt-len", type=int, help="prompt tokens (default 512; tiny 8)")
    parser.add_argument("--response-len", type=int, help="response tokens (default 1536; tiny 24)")
    parser.add_argument("--micro-batch", type=int, help="sequences per forward/backward (default 4; tiny 2)")
    parser.add_argument("--skip-fsdp", action="store_true", help="the single-process path only")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    import torch

    if not args.tiny and not torch.cuda.is_available():
        log("no CUDA device: run on a GPU host, or pass --tiny for the CPU check")
        return 2
    defaults = (2, 2, 8, 24, 2) if args.tiny else (8, 8, 512, 1536, 4)
    shape = Shape(
        groups=args.groups or defaults[0], samples=args.samples or defaults[1],
        prompt_len=args.prompt_len or defaults[2], response_len=args.response_len or defaults[3],
        micro_batch=args.micro_batch or defaults[4], device="cpu" if args.tiny else "cuda",
    )
    device_name = "cpu" if args.tiny else torch.cuda.get_device_name()
    peak = args.peak_tflops if args.peak_tflops is not None else (None if args.tiny else peak_tflops(device_name))
    log(f"device {device_name}; peak {f'{peak} TFLOPS (bf16 dense)' if peak else 'unknown'}; "
        f"torch {torch.__version__}; {shape.groups}x{shape.samples} sequences of "
        f"{shape.prompt_len}+{shape.response_len} tokens, micro-batch {shape.micro_batch}")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tirflow-gpu-check-"))
    results = []
    try:
        model_dir = build_model(work / "model", args.tiny)
        vocab = (TINY if args.tiny else QWEN25_05B)["vocab_size"]
        scored = write_batch(work / "scored.jsonl", shape, vocab)
        log(f"model and batch written in {time.perf_counter() - started:.0f} s")

        from tirflow_py.trainer.distributed import Distributed, Torchrun

        results.append(run_path("single", Distributed(), model_dir, scored, work, shape, args.steps, peak))
        if not args.skip_fsdp:
            # A one-rank torchrun group, in this process: the FSDP2 sharding and collectives run for real.
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0", LOCAL_RANK="0",
                              WORLD_SIZE="1")
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
            dist = Torchrun()
            try:
                results.append(run_path("fsdp2", dist, model_dir, scored, work, shape, args.steps, peak))
            finally:
                dist.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"device": device_name, "peak_tflops": peak, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
