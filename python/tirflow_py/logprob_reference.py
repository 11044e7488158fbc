"""Behaviour log-probs from transformers itself, to check the generation engines against.

The engines report, per sampled token, its log-prob under the distribution they drew it from:
logits / temperature, softmax, then the top-p nucleus renormalised (the most probable tokens,
ties broken by id, until their mass first reaches top_p; at least one). This module scores the
same token sequences the same way from a plain torch forward pass (fp32 model, no KV cache,
no padding), in float64 after the logits, as activities/generation/sampling.ts does.

Reads {"model": DIR, "cases": [{"temperature": T, "topP": P, "sequences": [{"prompt": [ids],
"response": [ids]}, ...]}, ...]} on stdin; prints {"logprobs": [[[per response token] per
sequence] per case]}. A token outside the nucleus scores null (it could not have been sampled).
Command line: python -m tirflow_py.logprob_reference < request.json
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def sampling_logprobs(logits: Any, temperature: float, top_p: float) -> Any:
    """Log-probs (float64, vocab-sized) of the distribution a sampler draws from one row of logits.

    -inf outside the nucleus. Temperature 0 is greedy: a point mass on the argmax (lowest id
    among equal maxima), so 0 there and -inf elsewhere.
    """
    import torch

    row = logits.double()
    if temperature <= 0:
        out = torch.full_like(row, -math.inf)
        out[int(torch.argmax(row))] = 0.0
        return out
    scaled = (row - row.max()) / temperature
    if top_p >= 1:
        return scaled - torch.logsumexp(scaled, dim=0)
    probs = torch.exp(scaled)
    # Most probable first, ties by id (a stable sort keeps equal probabilities in id order).
    order = torch.argsort(-probs, stable=True)
    cumulative = torch.cumsum(probs[order], dim=0)
    limit = top_p * float(probs.sum())
    # Kept: every token before the first whose cumulative mass reaches the limit, and that one.
    kept = int(torch.searchsorted(cumulative, torch.tensor([limit], dtype=torch.float64)).item()) + 1
    kept = min(kept, row.numel())
    members = order[:kept]
    out = torch.full_like(row, -math.inf)
    out[members] = scaled[members] - torch.log(cumulative[kept - 1])
    return out


def score(request: dict[str, Any]) -> list[list[list[float | None]]]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(request["model"], dtype=torch.float32).eval()
    results: list[list[list[float | None]]] = []
    with torch.no_grad():
        for case in request["cases"]:
            temperature = float(case["temperature"])
            top_p = float(case["topP"])
            per_case: list[list[float | None]] = []
            for sequence in case["sequences"]:
                prompt, response = list(sequence["prompt"]), list(sequence["response"])
                logits = model(torch.tensor([prompt + response])).logits[0]
                scores: list[float | None] = []
                for i, token in enumerate(response):
                    # The logits at position p predict token p + 1.
                    value = float(sampling_logprobs(logits[len(prompt) - 1 + i], temperature, top_p)[token])
                    scores.append(value if math.isfinite(value) else None)
                per_case.append(scores)
            results.append(per_case)
    return results


def main() -> None:
    print(json.dumps({"logprobs": score(json.loads(sys.stdin.read()))}))


if __name__ == "__main__":
    main()
