"""Byte-level BPE tokenizer for the tiny base model, trained on the pretraining corpus.

Digits are split into single tokens before BPE (as Qwen2.5 and Llama do), so every number is
spelled digit by digit and arithmetic is learnable by a small model; byte-level fallback means
any text, code output included, round-trips exactly.
"""

from __future__ import annotations

from typing import Iterable

from .corpus_template import EOS_TOKEN


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A PreTrainedTokenizerFast with EOS (= pad) token, ready for save_pretrained."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN, model_max_length=512
    )
