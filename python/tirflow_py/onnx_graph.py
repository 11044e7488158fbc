"""A hand-built ONNX decoder graph for Qwen2/Llama-style models, written from the weights.

The traced export (torch.onnx over transformers' modules) records every shape computation of
the Python code: about 1,000 nodes for a 4-layer model, 450 after onnxruntime's own fusions,
and for a small model at batch 32 those tiny nodes cost as much as the matrix products. This
builder writes the same computation with static reshapes instead (tiny base: 234 nodes, 177
after fusions) and folds what can be folded into the weights: q, k and v are one MatMul, gate
and up are one, the 1/sqrt(head_dim) attention scale lives in the query weights, and
grouped-query attention reshapes the queries per key/value head instead of repeating keys
and values.

Inputs as the traced graph (see onnx_export.py), same masking: a key is visible when its
attention_mask entry is 1 and it is not after the query; blocked scores get float32's
minimum, so a fully padded row stays finite. Attention reads the past and the new keys and
values separately and never concatenates them. The outputs are either
  kv_outputs="new"      logits, new_key_values.{i}.key/.value [batch, kv_heads, seq, head_dim]:
                        only this call's keys and values; the caller keeps the cache (the
                        `onnx` engine appends them in place to fixed-capacity buffers)
  kv_outputs="present"  logits, present.{i}.key/.value: past + new, the transformers.js /
                        Optimum decoder convention, for other tools (it copies the whole cache
                        on every call: onnxruntime runs every node, fetched or not)
Plain ONNX opset 17 ops only; onnxruntime fuses the RMS norms on load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Model types whose decoder layer is exactly: RMSNorm, attention (q/k/v with optional bias,
#: rotary, GQA, o without bias), RMSNorm, SiLU-gated MLP; residual around each.
SUPPORTED_MODEL_TYPES = ("qwen2", "llama")
OPSET = 17


def unsupported_reason(model: Any) -> str | None:
    """Why this model cannot use the hand-built graph (None when it can)."""
    config = model.config.get_text_config(decoder=True)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        return f"model type {config.model_type!r}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r}"
    if getattr(config, "use_sliding_window", False) and getattr(config, "sliding_window", None):
        return "sliding-window attention"
    if getattr(config, "mlp_bias", False):
        return "MLP biases"
    rotary = getattr(model.model, "rotary_emb", None)
    if rotary is None or getattr(rotary, "rope_type", None) != "default":
        return f"rotary type {getattr(rotary, 'rope_type', None)!r}"
    if any(getattr(layer.self_attn.o_proj, "bias", None) is not None for layer in model.model.layers):
        return "an output-projection bias"
    return None


KV_OUTPUTS = ("new", "present")


def build_decoder_graph(model: Any, layout: dict[str, Any], kv_outputs: str = "new") -> Any:
    """The onnx.ModelProto of model's decoder with KV cache (weights inline); kv_outputs: see above."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if kv_outputs not in KV_OUTPUTS:
        raise ValueError(f"kv_outputs must be one of {', '.join(KV_OUTPUTS)}, not {kv_outputs!r}")
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(f"the hand-built graph does not support {reason}")
    config = model.config.get_text_config(decoder=True)
    layers = layout["numLayers"]
    heads, kv_heads, head_dim = layout["numAttentionHeads"], layout["numKeyValueHeads"], layout["headDim"]
    groups = heads // kv_heads
    eps = float(config.rms_norm_eps)

    nodes: list[Any] = []
    inits: list[Any] = []

    def weight(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=array.dtype), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str] | str, **attrs: Any) -> list[str]:
        outs = [outputs] if isinstance(outputs, str) else outputs
        nodes.append(helper.make_node(op, inputs, outs, name=f"n{len(nodes)}_{op}", **attrs))
        return outs

    def const(name: str, values: list[int] | list[float], dtype: Any = np.int64) -> str:
        return weight(name, np.array(values, dtype=dtype))

    def tensor(t: Any) -> np.ndarray:
        return t.detach().to("cpu").float().numpy()

    def rms_norm(x: str, w: Any, out: str) -> str:
        # The pattern onnxruntime fuses into SimplifiedLayerNormalization.
        sq = node("Pow", [x, "c_two"], f"{out}_sq")[0]
        mean = node("ReduceMean", [sq], f"{out}_mean", axes=[-1], keepdims=1)[0]
        var = node("Add", [mean, "c_eps"], f"{out}_var")[0]
        std = node("Sqrt", [var], f"{out}_std")[0]
        normed = node("Div", [x, std], f"{out}_normed")[0]
        return node("Mul", [normed, weight(f"{out}.weight", tensor(w))], out)[0]

    weight("c_two", np.array(2.0, dtype=np.float32))
    weight("c_eps", np.array(eps, dtype=np.float32))
    const("c_qkv_shape", [0, 0, heads + 2 * kv_heads, head_dim])
    const("c_qk_split", [heads + kv_heads, kv_heads])
    const("c_q_k_split", [heads, kv_heads])
    const("c_half_split", [head_dim // 2, head_dim // 2])
    const("c_group_shape", [0, kv_heads, -1, head_dim])
    const("c_heads_shape", [0, heads, -1, head_dim])
    const("c_hidden_shape", [0, 0, heads * head_dim])
    const("c_mask_tile", [1, 1, groups, 1])

    inner = model.model
    # Embeddings.
    embed = tensor(inner.embed_tokens.weight)
    node("Gather", [weight("embed_tokens.weight", embed), "input_ids"], "h0", axis=0)

    # Rotary tables for these positions: cos/sin of position * inv_freq, both halves the same.
    inv_freq = inner.rotary_emb.inv_freq.detach().float().numpy()
    node("Cast", ["position_ids"], "pos_f", to=TensorProto.FLOAT)
    node("Unsqueeze", ["pos_f", const("c_axis_last", [-1])], "pos_col")
    node("Mul", ["pos_col", weight("inv_freq", inv_freq)], "freqs")
    node("Concat", ["freqs", "freqs"], "angles", axis=-1)
    node("Cos", ["angles"], "cos_raw")
    node("Sin", ["angles"], "sin_raw")
    # The default rotary type (the only one built) has attention_scaling 1: cos/sin as they are.
    node("Unsqueeze", ["cos_raw", const("c_axis_1", [1])], "cos")  # [B, 1, S, D]
    node("Unsqueeze", ["sin_raw", "c_axis_1"], "sin")

    # Additive mask [B, 1, groups*S, T]: key j is visible to query i when it is not padding
    # and j <= past + i; rows repeat per query head of a group (the reshaped query layout).
    node("Shape", ["input_ids"], "ids_shape")
    node("Gather", ["ids_shape", const("c_one", [1])], "seq_len_1d", axis=0)
    node("Shape", ["attention_mask"], "mask_shape")
    node("Gather", ["mask_shape", "c_one"], "total_len_1d", axis=0)
    node("Squeeze", ["seq_len_1d"], "seq_len")
    node("Squeeze", ["total_len_1d"], "total_len")
    node("Sub", ["total_len", "seq_len"], "past_len")
    weight("c_zero_scalar", np.array(0, dtype=np.int64))
    weight("c_one_scalar", np.array(1, dtype=np.int64))
    node("Range", ["past_len", "total_len", "c_one_scalar"], "q_pos")  # [S]
    node("Range", ["c_zero_scalar", "total_len", "c_one_scalar"], "k_pos")  # [T]
    node("Unsqueeze", ["q_pos", "c_axis_last"], "q_pos_col")  # [S, 1]
    node("LessOrEqual", ["k_pos", "q_pos_col"], "causal")  # [S, T]
    node("Cast", ["attention_mask"], "mask_bool", to=TensorProto.BOOL)
    node("Unsqueeze", ["mask_bool", const("c_axes_1_2", [1, 2])], "mask_4d")  # [B, 1, 1, T]
    node("And", ["causal", "mask_4d"], "allowed")  # [B, 1, S, T]
    weight("c_mask_zero", np.array(0.0, dtype=np.float32))
    weight("c_mask_min", np.array(np.finfo(np.float32).min, dtype=np.float32))
    node("Where", ["allowed", "c_mask_zero", "c_mask_min"], "mask_add")
    node("Tile", ["mask_add", "c_mask_tile"], "mask")  # [B, 1, groups*S, T]
    node("Unsqueeze", ["past_len", const("c_axis_0", [0])], "past_len_1d")
    node("Concat", ["past_len_1d", "seq_len_1d"], "past_new_split", axis=0)  # scores: past | new

    hidden = "h0"
    scale = head_dim**-0.5
    for i, layer in enumerate(inner.layers):
        p = f"layers.{i}"
        attn, mlp = layer.self_attn, layer.mlp
        normed = rms_norm(hidden, layer.input_layernorm.weight, f"{p}.input_norm")
        # One projection for q, k, v; the attention scale is folded into q's weights.
        wq, wk, wv = tensor(attn.q_proj.weight) * scale, tensor(attn.k_proj.weight), tensor(attn.v_proj.weight)
        w_qkv = np.concatenate([wq, wk, wv], axis=0).T
        qkv = node("MatMul", [normed, weight(f"{p}.qkv.weight", w_qkv)], f"{p}.qkv_mm")[0]
        if attn.q_proj.bias is not None:
            b_qkv = np.concatenate(
                [tensor(attn.q_proj.bias) * scale, tensor(attn.k_proj.bias), tensor(attn.v_proj.bias)]
            )
            qkv = node("Add", [qkv, weight(f"{p}.qkv.bias", b_qkv)], f"{p}.qkv")[0]
        node("Reshape", [qkv, "c_qkv_shape"], f"{p}.qkv_heads")
        node("Transpose", [f"{p}.qkv_heads"], f"{p}.qkv_t", perm=[0, 2, 1, 3])  # [B, H+2KV, S, D]
        node("Split", [f"{p}.qkv_t", "c_qk_split"], [f"{p}.qk", f"{p}.v"], axis=1)
        # Rotary on q and k together: x * cos + rotate_half(x) * sin.
        node("Split", [f"{p}.qk", "c_half_split"], [f"{p}.qk_lo", f"{p}.qk_hi"], axis=-1)
        node("Neg", [f"{p}.qk_hi"], f"{p}.qk_hi_neg")
        node("Concat", [f"{p}.qk_hi_neg", f"{p}.qk_lo"], f"{p}.qk_rot_half", axis=-1)
        node("Mul", [f"{p}.qk", "cos"], f"{p}.qk_cos")
        node("Mul", [f"{p}.qk_rot_half", "sin"], f"{p}.qk_sin")
        node("Add", [f"{p}.qk_cos", f"{p}.qk_sin"], f"{p}.qk_roped")
        node("Split", [f"{p}.qk_roped", "c_q_k_split"], [f"{p}.q", f"{p}.k"], axis=1)
        past_k, past_v = f"past_key_values.{i}.key", f"past_key_values.{i}.value"
        if kv_outputs == "new":
            node("Identity", [f"{p}.k"], f"new_key_values.{i}.key")
            node("Identity", [f"{p}.v"], f"new_key_values.{i}.value")
        else:
            node("Concat", [past_k, f"{p}.k"], f"present.{i}.key", axis=2)
            node("Concat", [past_v, f"{p}.v"], f"present.{i}.value", axis=2)
        # Grouped-query attention without repeating k/v: the queries of one kv head's group
        # become rows of one matrix, [B, KV, groups*S, D].
        node("Reshape", [f"{p}.q", "c_group_shape"], f"{p}.q_grouped")
        node("Transpose", [past_k], f"{p}.past_k_t", perm=[0, 1, 3, 2])
        node("Transpose", [f"{p}.k"], f"{p}.k_t", perm=[0, 1, 3, 2])
        node("MatMul", [f"{p}.q_grouped", f"{p}.past_k_t"], f"{p}.scores_past")
        node("MatMul", [f"{p}.q_grouped", f"{p}.k_t"], f"{p}.scores_new")
        node("Concat", [f"{p}.scores_past", f"{p}.scores_new"], f"{p}.scores", axis=-1)
        node("Add", [f"{p}.scores", "mask"], f"{p}.scores_masked")
        node("Softmax", [f"{p}.scores_masked"], f"{p}.probs", axis=-1)
        node("Split", [f"{p}.probs", "past_new_split"], [f"{p}.probs_past", f"{p}.probs_new"], axis=-1)
        node("MatMul", [f"{p}.probs_past", past_v], f"{p}.ctx_past")
        node("MatMul", [f"{p}.probs_new", f"{p}.v"], f"{p}.ctx_new")
        node("Add", [f"{p}.ctx_past", f"{p}.ctx_new"], f"{p}.ctx_grouped")
        node("Reshape", [f"{p}.ctx_grouped", "c_heads_shape"], f"{p}.ctx_heads")  # [B, H, S, D]
        node("Transpose", [f"{p}.ctx_heads"], f"{p}.ctx_t", perm=[0, 2, 1, 3])
        node("Reshape", [f"{p}.ctx_t", "c_hidden_shape"], f"{p}.ctx")
        w_o = tensor(attn.o_proj.weight).T
        node("MatMul", [f"{p}.ctx", weight(f"{p}.o.weight", w_o)], f"{p}.attn_out")
        node("Add", [hidden, f"{p}.attn_out"], f"{p}.mid")
        # SiLU-gated MLP with gate and up in one MatMul.
        normed2 = rms_norm(f"{p}.mid", layer.post_attention_layernorm.weight, f"{p}.post_norm")
        inter = int(mlp.gate_proj.weight.shape[0])
        w_gu = np.concatenate([tensor(mlp.gate_proj.weight), tensor(mlp.up_proj.weight)], axis=0).T
        node("MatMul", [normed2, weight(f"{p}.gate_up.weight", w_gu)], f"{p}.gate_up")
        node("Split", [f"{p}.gate_up", const(f"{p}.c_gu_split", [inter, inter])], [f"{p}.gate", f"{p}.up"], axis=-1)
        node("Sigmoid", [f"{p}.gate"], f"{p}.gate_sig")
        node("Mul", [f"{p}.gate", f"{p}.gate_sig"], f"{p}.gate_act")
        node("Mul", [f"{p}.gate_act", f"{p}.up"], f"{p}.act")
        w_down = tensor(mlp.down_proj.weight).T
        node("MatMul", [f"{p}.act", weight(f"{p}.down.weight", w_down)], f"{p}.mlp_out")
        hidden = node("Add", [f"{p}.mid", f"{p}.mlp_out"], f"{p}.out")[0]

    final = rms_norm(hidden, inner.norm.weight, "final_norm")
    head = tensor(model.lm_head.weight).T
    node("MatMul", [final, weight("lm_head.weight", head)], "logits")

    vocab = layout["vocabSize"]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total_sequence"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "sequence"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", vocab])]
    out_name, out_length = ("new_key_values", "sequence") if kv_outputs == "new" else ("present", "total_sequence")
    for i in range(layers):
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{kind}", TensorProto.FLOAT, ["batch", kv_heads, "past_sequence", head_dim]
                )
            )
            outputs.append(
                helper.make_tensor_value_info(
                    f"{out_name}.{i}.{kind}", TensorProto.FLOAT, ["batch", kv_heads, out_length, head_dim]
                )
            )
    graph = helper.make_graph(nodes, "tirflow_decoder", inputs, outputs, initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tirflow")
    proto.ir_version = 8
    if sum(t.ByteSize() for t in inits) < 1_000_000_000:  # the checker refuses protos past 2 GB
        onnx.checker.check_model(proto)
    return proto
