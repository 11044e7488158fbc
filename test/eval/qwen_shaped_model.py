"""A model folder saved by `transformers` with random weights at Qwen2.5-0.5B's shapes, to prove
the evaluation path a real checkpoint takes (no download is possible here):

  vocab 151936, hidden 896, 24 layers, 14 attention heads, 2 KV heads, intermediate 4864,
  32768 positions, rope theta 1e6, tied embeddings: Qwen2.5-0.5B's config.json numbers.

The tokenizer is the shipped tiny model's byte-level BPE, its vocabulary padded to 151936 entries
with tokens no merge produces (as Qwen pads its own embedding past its tokenizer), so every id the
random model samples decodes. Usage (the weights are ~2 GB of float32):

  python/.venv/bin/python test/eval/qwen_shaped_model.py OUT_DIR
"""
import itertools
import json
import shutil
import sys
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

VOCAB = 151936
TINY = Path(__file__).resolve().parents[2] / "models" / "tiny-base"


def byte_level_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (what ByteLevel decoding maps back)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def padded_tokenizer(out: Path) -> int:
    tokenizer = json.loads((TINY / "tokenizer.json").read_text())
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    used = set(vocab) | {t["content"] for t in tokenizer["added_tokens"]}
    next_id = max(max(vocab.values()), max(t["id"] for t in tokenizer["added_tokens"])) + 1
    alphabet = byte_level_alphabet()
    for combo in itertools.product(alphabet, repeat=3):
        if next_id >= VOCAB:
            break
        token = "".join(combo)
        if token in used:
            continue
        vocab[token] = next_id
        next_id += 1
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    for name in ["tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(TINY / name, out / name)
    config = json.loads((out / "tokenizer_config.json").read_text())
    config["model_max_length"] = 32768
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return len(vocab) + len(tokenizer["added_tokens"])


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    eos = 0  # the tiny tokenizer's <|endoftext|>
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        torch_dtype="float32",
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    entries = padded_tokenizer(out)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "parameters": params, "tokenizer_entries": entries}))


if __name__ == "__main__":
    main(sys.argv[1])
