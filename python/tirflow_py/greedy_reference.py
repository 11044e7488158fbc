"""Greedy continuations from transformers itself, to check the generation engines against.

Reads {"model": DIR, "prompts": [[ids...], ...], "newTokens": N} on stdin; each prompt is run
alone (no padding), greedy (argmax), EOS ignored, with transformers' KV cache. Prints {"tokens": [[ids...], ...]}.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def greedy(request: dict[str, Any]) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(request["model"], dtype=torch.float32).eval()
    new_tokens = int(request["newTokens"])
    out: list[list[int]] = []
    with torch.no_grad():
        for prompt in request["prompts"]:
            # A plain argmax loop over the model's own cache: generate() would mask EOS under
            # min_new_tokens, where the engines' ignoreEos lets it be chosen like any token.
            step = model(torch.tensor([prompt]), use_cache=True)
            tokens: list[int] = []
            for _ in range(new_tokens):
                token = int(step.logits[0, -1].argmax())
                tokens.append(token)
                step = model(torch.tensor([[token]]), past_key_values=step.past_key_values, use_cache=True)
            out.append(tokens)
    return out


def main() -> None:
    print(json.dumps({"tokens": greedy(json.loads(sys.stdin.read()))}))


if __name__ == "__main__":
    main()
