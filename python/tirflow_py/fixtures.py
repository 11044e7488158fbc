"""A tiny, randomly initialised Qwen2 model in Hugging Face format, for tests and benchmarks.

It goes through exactly the loading code a real checkpoint takes (AutoModelForCausalLM,
AutoTokenizer), so tests of the trainer, the ONNX export and the engines need no download.
Command line: python -m tirflow_py.fixtures OUT_DIR [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

_CORPUS = [
    "User: What is 12 + 7? Assistant: <think> 12 + 7 = 19 </think> <answer> \\boxed{19} </answer>",
    "```python\nprint(123 * 456)\n```\n```output\n56088\n```",
    "Solve 3x + 5 = 20. x = 5. The remainder of 17 mod 5 is 2.",
    "0123456789 +-*/=()[]{}<>:;,.!?'\"#%&^_|~ abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]
SPECIAL_TOKENS = ["<|endoftext|>"]


def make_tiny_random_model(out_dir: str | Path, seed: int = 0, vocab_size: int = 384) -> Path:
    """Writes config, safetensors weights, tokenizer and generation config to out_dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    eos_id = fast.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(eos_token_id=eos_id, pad_token_id=eos_id, bos_token_id=eos_id).save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_tiny_random_model(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    main()
