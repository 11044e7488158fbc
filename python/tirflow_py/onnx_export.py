"""Export a Hugging Face causal LM to ONNX with a KV cache, for tirflow's `onnx` rollout engine.

Inputs follow the transformers.js / Optimum decoder convention:

  inputs   input_ids            [batch, seq]                       int64
           attention_mask       [batch, past + seq]                int64 (0 = padding)
           position_ids         [batch, seq]                       int64
           past_key_values.{i}.key / .value  [batch, kv_heads, past, head_dim] float32
  outputs  logits               [batch, seq, vocab]                float32
   and either new_key_values.{i}.key / .value  [batch, kv_heads, seq, head_dim]
       or     present.{i}.key / .value         [batch, kv_heads, past + seq, head_dim]

For Qwen2/Llama-style models the graph is written directly from the weights (onnx_graph.py:
a fraction of the traced graph's nodes) with new_key_values outputs: the engine keeps the
cache and appends only the new entries, where present would copy the whole cache every step.
--present writes present outputs instead, which loads as-is in transformers.js / Optimum.
Other architectures are traced from transformers' modules and always give present outputs;
the engine takes both. Next to model.onnx go the tokenizer files, config.json, generation_config.json and
tirflow-onnx.json (layers, kv heads, head dim, eos ids) that the engine checks the graph
against. Every export runs a parity check of onnxruntime against torch and reports it.

Command line: python -m tirflow_py.onnx_export MODEL_DIR OUT_DIR [--graph auto|built|traced] [--present]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from tirflow_py.onnx_graph import build_decoder_graph, unsupported_reason

OPSET = 17
GRAPH_CHOICES = ("auto", "built", "traced")
MANIFEST = "tirflow-onnx.json"
COPIED_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json", "special_tokens_map.json")
PARITY_PROMPT = "User: What is 12 + 7? Assistant: <think>"
PARITY_GREEDY_TOKENS = 8


def _eos_ids(model_dir: Path, config: Any) -> list[int]:
    """All end-of-sequence ids: generation_config may list several (Qwen2.5 does)."""
    ids: list[int] = []
    gen_path = model_dir / "generation_config.json"
    sources = [getattr(config, "eos_token_id", None)]
    if gen_path.exists():
        sources.append(json.loads(gen_path.read_text()).get("eos_token_id"))
    for value in sources:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and item not in ids:
                ids.append(item)
    return ids


def _additive_causal_mask(padding_mask: Any, query_length: Any) -> Any:
    """[batch, 1, seq, past + seq] additive mask built from plain tensor ops.

    transformers' own mask builder uses vmap, which the tracing exporter cannot record; a 4D
    mask passed in is used as-is. Query i (absolute position past + i) sees key j when j is
    not padding and j <= past + i. Blocked entries get the dtype's minimum, not -inf, so a fully
    padded row stays finite.
    """
    import torch

    total = padding_mask.shape[1]
    past = total - query_length
    query_pos = torch.arange(query_length, device=padding_mask.device)[:, None] + past
    key_pos = torch.arange(total, device=padding_mask.device)[None, :]
    allowed = (key_pos <= query_pos)[None, None, :, :] & padding_mask[:, None, None, :].bool()
    zero = torch.zeros((), dtype=torch.float32)
    blocked = torch.tensor(torch.finfo(torch.float32).min, dtype=torch.float32)
    return torch.where(allowed, zero, blocked)


class _FlatCacheDecoder:
    """Builds the torch module that takes the KV cache as flat tensors (what ONNX can name)."""

    @staticmethod
    def build(model: Any, num_layers: int) -> Any:
        import torch
        from transformers.cache_utils import DynamicCache

        class FlatCacheDecoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, position_ids, *past):  # type: ignore[no-untyped-def]
                cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(num_layers)])
                out = self.model(
                    input_ids=input_ids,
                    attention_mask=_additive_causal_mask(attention_mask, input_ids.shape[1]),
                    position_ids=position_ids,
                    past_key_values=cache,
                    use_cache=True,
                    return_dict=True,
                )
                present = out.past_key_values
                flat = []
                for i in range(num_layers):
                    layer = present.layers[i]
                    flat += [layer.keys, layer.values]
                return (out.logits, *flat)

        return FlatCacheDecoder().eval()


def _io_names(num_layers: int) -> tuple[list[str], list[str]]:
    inputs = ["input_ids", "attention_mask", "position_ids"]
    outputs = ["logits"]
    for i in range(num_layers):
        inputs += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        outputs += [f"present.{i}.key", f"present.{i}.value"]
    return inputs, outputs


def _dynamic_axes(num_layers: int) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    for i in range(num_layers):
        for kind in ("key", "value"):
            axes[f"past_key_values.{i}.{kind}"] = {0: "batch", 2: "past_sequence"}
            axes[f"present.{i}.{kind}"] = {0: "batch", 2: "total_sequence"}
    return axes


def cache_after(session: Any, past: list[Any], outputs: list[Any]) -> list[Any]:
    """The whole cache after a call, [past + new] per layer, whichever kv outputs the graph has."""
    import numpy as np

    kv = outputs[1:]
    if session.get_outputs()[1].name.startswith("present."):
        return kv
    return [np.concatenate([p, n], axis=2) for p, n in zip(past, kv)]


def parity_check(model: Any, tokenizer: Any, onnx_path: Path, layout: dict[str, Any]) -> dict[str, Any]:
    """torch vs onnxruntime on a fixed prompt: logits without and with past, and greedy tokens."""
    import numpy as np
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    layers, heads, head_dim = layout["numLayers"], layout["numKeyValueHeads"], layout["headDim"]
    ids = tokenizer(PARITY_PROMPT, add_special_tokens=False)["input_ids"]

    def ort_step(step_ids: list[int], past: list[np.ndarray], past_len: int) -> tuple[np.ndarray, list[np.ndarray]]:
        n = len(step_ids)
        feeds = {
            "input_ids": np.array([step_ids], dtype=np.int64),
            "attention_mask": np.ones((1, past_len + n), dtype=np.int64),
            "position_ids": np.arange(past_len, past_len + n, dtype=np.int64)[None, :],
        }
        for i in range(layers):
            feeds[f"past_key_values.{i}.key"] = past[2 * i]
            feeds[f"past_key_values.{i}.value"] = past[2 * i + 1]
        outs = session.run(None, feeds)
        return outs[0], cache_after(session, past, outs)

    empty = [np.zeros((1, heads, 0, head_dim), dtype=np.float32) for _ in range(2 * layers)]
    with torch.no_grad():
        torch_full = model(torch.tensor([ids])).logits[0].float().numpy()
        # Prefill all but the last token, then one cached step: exercises the past inputs.
        ort_prefix, past = ort_step(ids[:-1], empty, 0)
        ort_last, _ = ort_step(ids[-1:], past, len(ids) - 1)
        no_past_diff = float(np.abs(ort_prefix[0] - torch_full[:-1]).max())
        with_past_diff = float(np.abs(ort_last[0, -1] - torch_full[-1]).max())

        torch_tokens = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=PARITY_GREEDY_TOKENS,
            min_new_tokens=PARITY_GREEDY_TOKENS,
            do_sample=False,
            pad_token_id=layout["eosTokenIds"][0] if layout["eosTokenIds"] else 0,
        )[0, len(ids) :].tolist()

    ort_tokens: list[int] = []
    logits, past = ort_step(ids, empty, 0)
    total = len(ids)
    eos = set(layout["eosTokenIds"])
    for _ in range(PARITY_GREEDY_TOKENS):
        row = logits[0, -1].copy()
        # min_new_tokens above forbids EOS in torch; do the same here.
        for e in eos:
            row[e] = -np.inf
        token = int(row.argmax())
        ort_tokens.append(token)
        logits, past = ort_step([token], past, total)
        total += 1
    return {
        "prompt": PARITY_PROMPT,
        "maxAbsLogitDiffNoPast": no_past_diff,
        "maxAbsLogitDiffWithPast": with_past_diff,
        "greedyTokensTorch": torch_tokens,
        "greedyTokensOnnx": ort_tokens,
        "greedyTokensMatch": torch_tokens == ort_tokens,
    }


def export_onnx(
    model_dir: str | Path, out_dir: str | Path, graph: str = "auto", present: bool = False
) -> dict[str, Any]:
    """Exports model_dir (any HF causal LM folder) to out_dir/model.onnx with its files; returns a report.

    graph: "built" writes the hand-built graph (onnx_graph.py; Qwen2/Llama layouts), "traced"
    traces transformers' modules (any architecture, slower graph), "auto" builds when it can.
    present: the built graph outputs present (the Optimum convention) instead of new_key_values.
    """
    import onnx
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if graph not in GRAPH_CHOICES:
        raise ValueError(f"graph must be one of {', '.join(GRAPH_CHOICES)}, not {graph!r}")
    src, out = Path(model_dir), Path(out_dir)
    if not (src / "config.json").exists():
        raise FileNotFoundError(f"{src} has no config.json: not a Hugging Face model folder")
    if not (src / "tokenizer.json").exists():
        raise FileNotFoundError(f"{src} has no tokenizer.json: the onnx engine needs the fast tokenizer file")
    started = time.perf_counter()
    config = AutoConfig.from_pretrained(src)
    # Eager attention traces to plain MatMul/Softmax, and its additive mask keeps fully padded
    # rows finite (SDPA can turn them into NaN), which left-padded batches rely on.
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(src)

    text_config = config.get_text_config(decoder=True)
    num_layers = int(text_config.num_hidden_layers)
    heads = int(text_config.num_attention_heads)
    kv_heads = int(getattr(text_config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text_config, "head_dim", None) or text_config.hidden_size // heads)
    layout = {
        "format": "tirflow-onnx/1",
        "modelType": config.model_type,
        "numLayers": num_layers,
        "numAttentionHeads": heads,
        "numKeyValueHeads": kv_heads,
        "headDim": head_dim,
        "vocabSize": int(text_config.vocab_size),
        "maxPositionEmbeddings": int(getattr(text_config, "max_position_embeddings", 0) or 0),
        "eosTokenIds": _eos_ids(src, config),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dtype": "float32",
    }

    unsupported = unsupported_reason(model)
    if graph == "built" and unsupported is not None:
        raise ValueError(f"the hand-built graph does not support {unsupported}; export with graph='traced'")
    if graph == "auto":
        graph = "traced" if unsupported is not None else "built"

    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    # The tracer may write weights as loose files next to its graph: keep them in a scratch
    # folder that is removed afterwards, so an export never touches other files in out_dir.
    scratch = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=out))
    tmp_path = scratch / "model.onnx"
    try:
        if graph == "built":
            _consolidate(build_decoder_graph(model, layout, "present" if present else "new"), onnx_path)
        else:
            _trace(model, num_layers, kv_heads, head_dim, tmp_path)
            _consolidate(onnx.load(str(tmp_path)), onnx_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    for name in COPIED_FILES:
        if (src / name).exists() and src.resolve() != out.resolve():
            shutil.copyfile(src / name, out / name)
    (out / MANIFEST).write_text(json.dumps(layout, indent=2) + "\n")

    report = {
        "onnxPath": str(onnx_path),
        "graph": graph,
        "kvOutputs": "new" if graph == "built" and not present else "present",
        "layout": layout,
        "exportSeconds": round(time.perf_counter() - started, 2),
        "parity": parity_check(model, tokenizer, onnx_path, layout),
    }
    return report


def _trace(model: Any, num_layers: int, kv_heads: int, head_dim: int, path: Path) -> None:
    """torch.onnx's tracing export of transformers' own modules: slower graph, any architecture."""
    import torch

    wrapper = _FlatCacheDecoder.build(model, num_layers)
    # Trace with a non-empty past and batch 2 so no dimension is specialised to 0 or 1.
    batch, seq, past_len = 2, 3, 4
    dummy_past = [torch.zeros(batch, kv_heads, past_len, head_dim) for _ in range(2 * num_layers)]
    args = (
        torch.ones(batch, seq, dtype=torch.long),
        torch.ones(batch, past_len + seq, dtype=torch.long),
        torch.arange(past_len, past_len + seq, dtype=torch.long).expand(batch, seq).contiguous(),
        *dummy_past,
    )
    input_names, output_names = _io_names(num_layers)
    # The tracer warns about Python-level branches in the cache code; they are constant for a
    # given layout, and the parity check is the real guard.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=_dynamic_axes(num_layers),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _consolidate(graph: Any, onnx_path: Path) -> None:
    """Saves the graph as out/model.onnx (weights as external data only past protobuf's 2 GB)."""
    import onnx

    for stale in (onnx_path, onnx_path.with_name("model.onnx.data")):
        stale.unlink(missing_ok=True)
    # The whole graph cannot even be measured past 2 GB (ByteSize raises EncodeError): sum its weights.
    weights = sum(tensor.ByteSize() for tensor in graph.graph.initializer)
    if weights > 1_800_000_000:
        onnx.save_model(graph, str(onnx_path), save_as_external_data=True, location="model.onnx.data")
    else:
        onnx.save_model(graph, str(onnx_path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--graph", choices=GRAPH_CHOICES, default="auto", help="see export_onnx")
    parser.add_argument("--present", action="store_true", help="present outputs (Optimum convention); see export_onnx")
    args = parser.parse_args()
    report = export_onnx(args.model_dir, args.out_dir, graph=args.graph, present=args.present)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
