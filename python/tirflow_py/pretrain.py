"""Pretrains the tiny base model (Qwen2 architecture) on the generated corpus, on CPU.

Everything is seeded: corpus, tokenizer, initialisation and batch order, so a rerun with the same
arguments reproduces the model (up to floating-point reduction order on other hardware).
Command line (the shipped model):
  nice -n 10 uv run --frozen python -m tirflow_py.pretrain --out ../models/tiny-base
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .corpus import generate_corpus
from .corpus_template import EOS_TOKEN
from .tokenizer_train import train_tokenizer


@dataclass
class PretrainConfig:
    out: str = "../models/tiny-base"
    seed: int = 1
    docs: int = 20_000  # corpus documents (about 100 tokens each)
    heldout_docs: int = 1_000  # a disjoint stream (another seed) for the held-out loss
    vocab_size: int = 1024  # an upper bound: BPE stops when the corpus has no more merges
    hidden_size: int = 192
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 512
    context: int = 512  # max positions: prompt + response with two code blocks
    block: int = 256  # training sequence length (packed documents separated by EOS)
    batch: int = 8
    steps: int = 600
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    log_every: int = 50
    threads: int = 2
    max_minutes: float = 0.0  # > 0: stop early (and still save) when the shared machine is slow
    init_from: str = ""  # a model folder to continue from (its tokenizer and weights); "" = fresh
    hard_think_share: float = 1.0  # corpus: share of hard-level think documents kept (see generate_corpus)
    text_tutorial_share: float = 0.0  # corpus: share of tutorials worked in text, without a code cell
    think_newline_share: float = 0.0  # corpus: share of think documents closing on a line of their own
    chat_answer_tag: int = 0  # corpus: 1 = chat-transcript tutorials end with an <answer> tag


def pack(tokenizer, texts: list[str]):
    """All documents as one token stream, each followed by EOS."""
    import torch

    eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False).input_ids:
        ids.extend(encoded)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def pretrain(cfg: PretrainConfig) -> dict:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    started = time.time()

    knobs = {"hard_think_share": cfg.hard_think_share, "text_tutorial_share": cfg.text_tutorial_share,
             "think_newline_share": cfg.think_newline_share, "chat_answer_tag": bool(cfg.chat_answer_tag)}
    docs = generate_corpus(cfg.docs, seed=cfg.seed, **knobs)
    heldout = generate_corpus(cfg.heldout_docs, seed=cfg.seed + 1_000_003, **knobs)
    if cfg.init_from:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.init_from)
    else:
        tokenizer = train_tokenizer((d.text for d in docs), vocab_size=cfg.vocab_size)
    stream = pack(tokenizer, [d.text for d in docs])
    heldout_stream = pack(tokenizer, [d.text for d in heldout])
    print(f"corpus: {len(docs)} docs, {len(stream)} tokens; vocab {len(tokenizer)}; "
          f"held-out {len(heldout_stream)} tokens")

    eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=cfg.context, tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, use_cache=True,
    )
    model = Qwen2ForCausalLM.from_pretrained(cfg.init_from) if cfg.init_from else Qwen2ForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params:,} parameters")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95),
    )
    batches = torch.Generator().manual_seed(cfg.seed)

    def batch_from(tokens):
        starts = torch.randint(0, len(tokens) - cfg.block - 1, (cfg.batch,), generator=batches)
        return torch.stack([tokens[s : s + cfg.block] for s in starts])

    model.train()
    log: list[dict] = []
    window = []
    tick = time.time()
    steps_done = 0
    for step in range(cfg.steps):
        if cfg.max_minutes > 0 and time.time() - started > cfg.max_minutes * 60:
            print(f"stopping early after {step} steps: --max-minutes {cfg.max_minutes} reached", flush=True)
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        input_ids = batch_from(stream)
        loss = model(input_ids=input_ids, labels=input_ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        steps_done = step + 1
        window.append(loss.item())
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.time() - tick
            tokens_per_s = len(window) * cfg.batch * cfg.block / elapsed
            mean = sum(window) / len(window)
            print(f"step {step + 1:5d} | loss {mean:.4f} | lr {lr_at(step, cfg):.2e} | {tokens_per_s:,.0f} tok/s",
                  flush=True)
            log.append({"step": step + 1, "loss": round(mean, 4)})
            window, tick = [], time.time()

    if window:  # a partial window when stopped early
        log.append({"step": steps_done, "loss": round(sum(window) / len(window), 4)})
    model.eval()
    with torch.no_grad():
        blocks = heldout_stream[: (len(heldout_stream) // cfg.block) * cfg.block].view(-1, cfg.block)
        losses = [model(input_ids=b, labels=b).loss.item() for b in blocks.split(cfg.batch)]
    heldout_loss = sum(losses) / len(losses)
    print(f"held-out loss {heldout_loss:.4f} over {blocks.numel()} tokens")

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, do_sample=True,
                     temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=cfg.context).save_pretrained(out)
    summary = {
        "config": asdict(cfg), "parameters": params, "corpus_tokens": len(stream),
        "steps_done": steps_done, "train_tokens": steps_done * cfg.batch * cfg.block, "final_train_loss": log[-1]["loss"] if log else None,
        "heldout_loss": round(heldout_loss, 4), "wall_seconds": round(time.time() - started),
        "loss_curve": log,
    }
    (out / "pretrain_log.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(PretrainConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = parser.parse_args()
    summary = pretrain(PretrainConfig(**vars(args)))
    print(f"saved {summary['parameters']:,} parameters to {args.out} in {summary['wall_seconds']} s")


if __name__ == "__main__":
    main()
