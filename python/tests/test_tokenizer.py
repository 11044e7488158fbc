"""The byte-level BPE tokenizer round-trips every corpus document kind exactly."""

from pathlib import Path

import pytest

from tirflow_py.corpus import DOC_KINDS, generate_corpus
from tirflow_py.corpus_template import EOS_TOKEN, render_output_block, render_prompt
from tirflow_py.tokenizer_train import train_tokenizer

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "tiny-base"
DOCS = generate_corpus(300, seed=5)
ODD_TEXT = [
    render_prompt("What is 347 * 829?") + " We need 347 * 829.\n```python\nprint(347 * 829)\n```",
    render_output_block("Traceback: ValueError: é ñ ∑ 😀 \t tabs"),
]


@pytest.fixture(scope="module")
def trained():
    return train_tokenizer((d.text for d in generate_corpus(2000, seed=1)), vocab_size=512)


def shipped():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


@pytest.mark.parametrize("source", ["trained", "shipped"])
def test_round_trip_on_every_document_kind(source, trained):
    tok = trained if source == "trained" else shipped()
    for kind in DOC_KINDS:
        texts = [d.text for d in DOCS if d.kind == kind]
        assert texts, kind
        for text in texts:
            assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    for text in ODD_TEXT:
        assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text


@pytest.mark.parametrize("source", ["trained", "shipped"])
def test_digits_are_single_tokens_and_eos_is_special(source, trained):
    tok = trained if source == "trained" else shipped()
    tokens = tok.tokenize("print(347 * 829)")
    assert [t for t in tokens if any(c.isdigit() for c in t)] == list("347829")
    assert tok.eos_token == EOS_TOKEN and tok.pad_token == EOS_TOKEN
    assert tok(EOS_TOKEN, add_special_tokens=False).input_ids == [tok.eos_token_id]
    assert 256 < len(tok) <= 4096
