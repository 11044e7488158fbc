"""A tiny Qwen2 that writes a ```python block whenever it may, for tests that need the sandbox.

It rewrites a tiny model (e.g. the random test fixture) into a next-token table over one cycle,
    "```" -> "python" -> "\\n" -> "print" -> "(" -> "6" -> "*" -> "7" -> ")" -> "```" -> ...
(in the tokenizer's own pieces), and every token outside the cycle leads to "```". So after
the prompt it opens a code block, writes print(6*7), closes it, and after the observation
does it again: a real model, loaded and run by the real engines, whose rollouts always
execute code. How: the attention and MLP outputs are zeroed (the residual stream is the
token's embedding), each cycle token embeds as its own basis vector, every other token as a
shared one, and an untied lm_head maps each basis vector to its successor with a large logit.

Command line: python code_writing_model.py SRC_HF_DIR OUT_HF_DIR [CYCLE_TEXT]
(CYCLE_TEXT replaces the default code; each of its tokens must be distinct.)
"""

from __future__ import annotations

import sys
from pathlib import Path

CYCLE_TEXT = "```python\nprint(6*7)"
LOGIT_MARGIN = 40.0


def rewrite(src: str, out: str, cycle_text: str = CYCLE_TEXT) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(src)
    model = Qwen2ForCausalLM.from_pretrained(src)
    cycle = tokenizer.encode(cycle_text, add_special_tokens=False)
    hidden = model.config.hidden_size
    vocab = model.config.vocab_size
    if len(set(cycle)) != len(cycle) or len(cycle) + 1 > hidden:
        raise SystemExit(f"cannot make a next-token cycle of {cycle} in hidden size {hidden}")

    basis = torch.eye(hidden)
    embeddings = basis[0].repeat(vocab, 1)  # outside the cycle: basis 0 ...
    head = torch.zeros(vocab, hidden)
    head[cycle[0]] += basis[0]  # ... leads into it
    for position, token in enumerate(cycle):
        embeddings[token] = basis[position + 1]
        head[cycle[(position + 1) % len(cycle)]] += basis[position + 1]
    # RMSNorm turns a basis vector into sqrt(hidden) times it.
    head *= LOGIT_MARGIN / hidden**0.5

    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        model.model.embed_tokens.weight.copy_(embeddings)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)

    Path(out).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if (Path(src) / "generation_config.json").exists():
        (Path(out) / "generation_config.json").write_bytes((Path(src) / "generation_config.json").read_bytes())


if __name__ == "__main__":
    rewrite(*sys.argv[1:4])
