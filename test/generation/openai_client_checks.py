"""`tirflow serve` through the official `openai` client, as any vLLM user would call it.

Run by test/generation/serve.test.ts, which starts the server on a free 127.0.0.1 port and
passes TIRFLOW_SERVE_BASE_URL and TIRFLOW_SERVE_MODEL; not collected by the project's pytest
run (it needs the server).
"""

from __future__ import annotations

import math
import os

import openai
import pytest

PROMPT = "User: What is 12 + 7? Assistant: <think>"


@pytest.fixture(scope="module")
def client() -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["TIRFLOW_SERVE_BASE_URL"], api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def model() -> str:
    return os.environ["TIRFLOW_SERVE_MODEL"]


def test_lists_the_model_with_its_context(client: openai.OpenAI, model: str) -> None:
    listed = client.models.list().data
    assert [m.id for m in listed] == [model]
    assert (listed[0].model_extra or {}).get("max_model_len", 0) > 0


def test_plain_completion(client: openai.OpenAI, model: str) -> None:
    out = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0, seed=1)
    choice = out.choices[0]
    assert choice.finish_reason == "length"
    assert choice.text.strip() != ""
    assert choice.logprobs is None
    assert out.usage is not None and out.usage.completion_tokens == 8
    token_ids = (choice.model_extra or {})["token_ids"]
    assert len(token_ids) == 8
    # Prompts may be token ids, and a list of prompts is a batch: one choice each, in order.
    batch = client.completions.create(model=model, prompt=[token_ids, PROMPT], max_tokens=8, temperature=0)
    assert [c.index for c in batch.choices] == [0, 1]
    assert batch.choices[1].text == choice.text
    assert batch.choices[0].text != ""


def test_logprobs_of_the_sampling_distribution(client: openai.OpenAI, model: str) -> None:
    out = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0.7, seed=3, logprobs=3)
    choice = out.choices[0]
    lp = choice.logprobs
    assert lp is not None
    token_ids = (choice.model_extra or {})["token_ids"]
    n = len(token_ids)
    assert n == 12
    assert lp.tokens is not None and lp.token_logprobs is not None and lp.text_offset is not None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) == n
    assert "".join(lp.tokens) == choice.text
    assert lp.text_offset == [len("".join(lp.tokens[:i])) for i in range(n)]
    assert all(v <= 0 and math.isfinite(v) for v in lp.token_logprobs)
    assert lp.top_logprobs is not None and len(lp.top_logprobs) == n
    for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        # The three most probable, and the sampled token if it is not one of them (keyed by text).
        assert 1 <= len(top) <= 4
        assert value in top.values()
        assert max(top.values()) <= 0
        if token in top:
            assert top[token] == value
        # Probabilities of one distribution: the listed ones sum to at most 1.
        assert sum(math.exp(v) for v in top.values()) <= 1 + 1e-9
    # The same seed without log-probs samples the same tokens: asking for them changes nothing.
    plain = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0.7, seed=3)
    assert (plain.choices[0].model_extra or {})["token_ids"] == token_ids
    # logprobs=0: the sampled tokens' log-probs only.
    only = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0.7, seed=3, logprobs=0)
    assert only.choices[0].logprobs is not None
    assert only.choices[0].logprobs.token_logprobs == lp.token_logprobs
    assert only.choices[0].logprobs.top_logprobs is None
    # Greedy decoding samples from a point mass: every sampled token has log-prob 0.
    greedy = client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=1)
    assert greedy.choices[0].logprobs is not None
    assert greedy.choices[0].logprobs.token_logprobs == [0.0] * 6


def _stop_in(client: openai.OpenAI, model: str, length: int) -> tuple[str, str]:
    """A greedy continuation and a stop string of `length` characters from its middle."""
    free = client.completions.create(model=model, prompt=PROMPT, max_tokens=30, temperature=0).choices[0].text
    middle = len(free) // 2
    stop = free[middle : middle + length]
    assert len(stop) == length and stop.strip() != "", repr(free)
    return free, stop


@pytest.mark.parametrize("length", [1, 2, 3])
def test_stop_string_left_out_unless_asked(client: openai.OpenAI, model: str, length: int) -> None:
    free, stop = _stop_in(client, model, length)
    cut = client.completions.create(model=model, prompt=PROMPT, max_tokens=30, temperature=0, stop=[stop])
    choice = cut.choices[0]
    assert choice.finish_reason == "stop"
    assert (choice.model_extra or {})["stop_reason"] == stop
    assert choice.text == free[: free.index(stop)]
    kept = client.completions.create(
        model=model,
        prompt=PROMPT,
        max_tokens=30,
        temperature=0,
        stop=stop,
        extra_body={"include_stop_str_in_output": True},
    ).choices[0]
    assert kept.text.startswith(free[: free.index(stop)] + stop)
    assert free.startswith(kept.text), "the rest of the token that completed the stop, and nothing more"
    # The ids are the same either way: only the text is trimmed.
    assert (kept.model_extra or {})["token_ids"] == (choice.model_extra or {})["token_ids"]


def test_streaming(client: openai.OpenAI, model: str) -> None:
    whole = client.completions.create(model=model, prompt=PROMPT, max_tokens=16, temperature=0.8, seed=9, logprobs=0)
    chunks = list(
        client.completions.create(
            model=model,
            prompt=PROMPT,
            max_tokens=16,
            temperature=0.8,
            seed=9,
            logprobs=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len(chunks) > 3, "tokens arrive as they are made, not in one piece"
    body = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in body) == whole.choices[0].text
    streamed_ids = [i for c in body for i in (c.choices[0].model_extra or {})["token_ids"]]
    assert streamed_ids == (whole.choices[0].model_extra or {})["token_ids"]
    streamed_logprobs = [v for c in body if c.choices[0].logprobs for v in c.choices[0].logprobs.token_logprobs or []]
    assert whole.choices[0].logprobs is not None
    assert streamed_logprobs == whole.choices[0].logprobs.token_logprobs
    assert body[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in body[:-1])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16


@pytest.mark.parametrize("length", [1, 2, 3])
def test_streaming_holds_back_the_stop_string(client: openai.OpenAI, model: str, length: int) -> None:
    free, stop = _stop_in(client, model, length)
    stream = client.completions.create(model=model, prompt=PROMPT, max_tokens=30, temperature=0, stop=[stop], stream=True)
    texts = [c.choices[0].text for c in stream if c.choices]
    assert "".join(texts) == free[: free.index(stop)]


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        ("", "empty"),
        ([], "empty"),
        ([10**9], "vocabulary"),
        ([-1], "vocabulary"),
    ],
)
def test_bad_prompts_are_400(client: openai.OpenAI, model: str, prompt: object, why: str) -> None:
    with pytest.raises(openai.BadRequestError, match=why):
        client.completions.create(model=model, prompt=prompt, max_tokens=4)  # type: ignore[arg-type]


def test_a_prompt_longer_than_the_context_is_400(client: openai.OpenAI, model: str) -> None:
    context = (client.models.list().data[0].model_extra or {})["max_model_len"]
    ids = client.completions.create(model=model, prompt=PROMPT, max_tokens=1, temperature=0)
    token = (ids.choices[0].model_extra or {})["token_ids"][0]
    with pytest.raises(openai.BadRequestError, match="context"):
        client.completions.create(model=model, prompt=[token] * (context + 5), max_tokens=4)
    with pytest.raises(openai.BadRequestError, match="context"):
        client.completions.create(model=model, prompt=[token] * context, max_tokens=4, stream=True)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"extra_body": {"top_k": 5}}, "top_k"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"echo": True}, "echo"),
        ({"extra_body": {"repetition_penalty": 1.1}}, "repetition_penalty"),
    ],
)
def test_unsupported_parameters_are_400_and_named(
    client: openai.OpenAI, model: str, extra: dict[str, object], named: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=named) as caught:
        client.completions.create(model=model, prompt=PROMPT, max_tokens=4, **extra)  # type: ignore[arg-type]
    assert caught.value.param == named  # type: ignore[attr-defined]
