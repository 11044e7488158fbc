"""The policy (any Hugging Face causal LM), the PPO critic, and per-token log-probabilities."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from .errors import TrainerError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("DeviceUnavailable", "device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 compute on GPU with fp32 master weights and optimizer state; plain fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_policy(hf_dir: str | Path, device: torch.device):
    """AutoModelForCausalLM + AutoTokenizer from a Hugging Face folder; weights in fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir = Path(hf_dir)
    if not (hf_dir / "config.json").exists():
        raise TrainerError("MissingModel", f"no Hugging Face model (config.json) in {hf_dir}")
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.to(device)
    # Dropout off: the ratio old/new must compare the same function; RL fine-tuning uses none.
    model.eval()
    return model, tokenizer


def pad_token_id(tokenizer, model) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, model.config.eos_token_id, 0):
        if isinstance(candidate, int):
            return candidate
    return 0


def token_logprobs(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """input_ids, attention_mask (B, L) -> logprobs (B, T) of each target token input_ids[:, 1:]
    under the model's (temperature-scaled) next-token distribution, and optionally its entropy
    (B, T), computed without gradient. Padding columns hold garbage: callers mask them."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    logits = logits.float() / temperature
    targets = input_ids[:, 1:]
    logprobs = torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            logp = torch.log_softmax(logits.detach(), dim=-1)
            entropy = -(logp.exp() * logp).sum(-1)
    return logprobs, entropy


class Critic(nn.Module):
    """PPO's value model: the policy's transformer trunk (a separate copy) with a scalar head.

    values[:, t] estimates the return from the state before target token t + 1, the same
    alignment as token_logprobs."""

    def __init__(self, hf_dir: str | Path):
        super().__init__()
        from transformers import AutoModel

        self.backbone = AutoModel.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="sdpa")
        self.value_head = nn.Linear(self.backbone.config.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return self.value_head(hidden[:, :-1]).squeeze(-1).float()
