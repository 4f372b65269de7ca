"""The BERT encoder of `flink.scoring.bert` as an ONNX graph, built from the same weights.

The graph computes what `BertEncoder.mean_pooled` computes, for a padded (batch, seq) batch:
token ids (int64) and a 0/1 attention mask (int64) in, the mean of the last hidden states over
each text's real tokens out, (batch, hidden) float32, not normalised. Shapes are dynamic, so
every micro-batch is padded only to its own longest text.

Two weight formats:

- ``fp32`` (the scorer's default): ONNX Runtime's fused transformer kernels (com.microsoft
  Attention, SkipLayerNormalization, BiasGelu after its own fusion), and packed like the numpy
  runtime: between attention steps the hidden states hold the real tokens only, so the
  attention output projection and the feed-forward block (3/4 of the arithmetic) skip the
  padding. Same results as the numpy runtime to float32 rounding.
- ``int8``: every projection (Q, K, V, attention output, both feed-forward matrices; 99% of
  the arithmetic) a com.microsoft ``DynamicQuantizeMatMul``: weights int8, symmetric, one
  scale per output channel; activations quantised to uint8 per call (one scale and zero point
  per tensor, from its min and max), integer GEMM (VNNI/AMX where the CPU has them), float
  output. Embeddings, LayerNorm, softmax and GELU stay float32; standard operators, padded.
  Its scores are up to ~5e-2 off fp32: this model's cosines move by 1e-2 from per-channel
  int8 weights alone (and by 1e-3 from weights rounded to bfloat16), so no 8-bit variant
  keeps the scorer's 1e-3 bound.

Built with `flink.scoring.onnx_proto`, so neither torch nor the `onnx` package is needed.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from flink.scoring import onnx_proto as op
from flink.scoring.bert import BertEncoder, _Layer

WeightFormat = Literal["fp32", "int8"]

QUANTIZABLE = frozenset({"q", "k", "v", "o", "in", "ff"})
"""The projections by name: query, key, value, attention output, feed-forward in and out."""

_OPSETS = {"": 20, "com.microsoft": 1}  # ai.onnx 20: Gelu (exact) and LayerNormalization


def quantize_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantisation of a (in, out) matrix, one scale per output column.

    Returns (int8 weights, float32 scales) with w ~= q * scales; |error| <= scale / 2.
    """
    amax = np.abs(w).max(axis=0)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scales), -127, 127).astype(np.int8)
    return q, scales


def _i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


class _Packing:
    """Moves hidden states between the padded (B, L, H) layout and the real tokens only,
    (N, H) in row-major order of the attention mask."""

    def __init__(self, g: op.GraphBuilder, hidden: int) -> None:
        self.g = g
        flat_mask = g.op("Reshape", ["attention_mask", g.const("flat", _i64(-1))])
        tokens = g.op("NonZero", [flat_mask])  # (1, N)
        self.tokens = g.op("Squeeze", [tokens, g.const("axis0", _i64(0))])  # (N,)
        self.indices = g.op("Transpose", [tokens], perm=[1, 0])  # (N, 1) for ScatterND
        self.rows_shape = g.const("rows_shape", _i64(-1, hidden))
        self.padded_shape = g.op(
            "Concat", [g.op("Shape", ["input_ids"]), g.const("hidden", _i64(hidden))], axis=0
        )
        zeros = g.op("ConstantOfShape", [self.padded_shape], value=np.zeros(1, dtype=np.float32))
        self.zeros = g.op("Reshape", [zeros, self.rows_shape])  # (B*L, H)

    def pack(self, padded: str) -> str:
        rows = self.g.op("Reshape", [padded, self.rows_shape])
        return self.g.op("Gather", [rows, self.tokens], axis=0)

    def unpack(self, packed: str) -> str:
        rows = self.g.op("ScatterND", [self.zeros, self.indices, packed])
        return self.g.op("Reshape", [rows, self.padded_shape])


class _Builder:
    def __init__(
        self, bert: BertEncoder, weights: WeightFormat, kinds: frozenset[str] = QUANTIZABLE
    ) -> None:
        self.bert = bert
        self.weights = weights
        self.kinds = kinds
        self.g = op.GraphBuilder(f"bert-{weights}")
        self._plain: tuple[str, str, str, str] | None = None

    def linear(self, x: str, w: np.ndarray, b: np.ndarray, hint: str) -> str:
        """x @ w + b for a (in, out) float32 matrix `w`."""
        g = self.g
        bias = g.const(f"{hint}_b", b.astype(np.float32))
        if self.weights == "int8" and hint.rsplit("_", 1)[1] in self.kinds:
            q, scales = quantize_per_channel(w)
            return g.op(
                "DynamicQuantizeMatMul",
                [x, g.const(f"{hint}_wq", q), g.const(f"{hint}_ws", scales), "", bias],
                domain="com.microsoft",
            )
        return g.op("Add", [g.op("MatMul", [x, g.const(f"{hint}_w", w)]), bias])

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray, hint: str) -> str:
        g = self.g
        return g.op(
            "LayerNormalization",
            [x, g.const(f"{hint}_g", gamma), g.const(f"{hint}_beta", beta)],
            axis=-1,
            epsilon=float(self.bert.config.layer_norm_eps),
        )

    def fused_layer(self, n: int, layer: _Layer, x: str, mask_i32: str, packing: _Packing) -> str:
        """One encoder layer from ONNX Runtime's fused transformer kernels (com.microsoft
        Attention: QKV projection, masked softmax and the head transposes in one kernel;
        SkipLayerNormalization: bias + residual + LayerNorm).

        `x` holds the real tokens only, (N, H): the attention input is scattered into the
        padded (B, L, H) layout and its output gathered back, so the output projection and the
        feed-forward block (3/4 of the arithmetic) skip the padding, as the numpy runtime's
        packed mode does."""
        g, cfg = self.g, self.bert.config
        attn = g.op(
            "Attention",
            [
                packing.unpack(x),
                g.const(f"l{n}_wqkv", layer.w_qkv),
                g.const(f"l{n}_bqkv", layer.b_qkv),
                mask_i32,
            ],
            domain="com.microsoft",
            num_heads=cfg.num_attention_heads,
        )
        attn = packing.pack(attn)
        x = self.skip_layer_norm(
            g.op("MatMul", [attn, g.const(f"l{n}_wo", layer.w_out)]),
            x,
            layer.b_out,
            layer.ln1_g,
            layer.ln1_b,
            f"l{n}_ln1",
        )
        inter = g.op("Gelu", [self.linear(x, layer.w_in, layer.b_in, f"l{n}_in")])
        return self.skip_layer_norm(
            g.op("MatMul", [inter, g.const(f"l{n}_wff", layer.w_ff)]),
            x,
            layer.b_ff,
            layer.ln2_g,
            layer.ln2_b,
            f"l{n}_ln2",
        )

    def skip_layer_norm(
        self, y: str, skip: str, bias: np.ndarray, gamma: np.ndarray, beta: np.ndarray, hint: str
    ) -> str:
        """LayerNorm(y + bias + skip) in one com.microsoft SkipLayerNormalization."""
        g = self.g
        return g.op(
            "SkipLayerNormalization",
            [
                y,
                skip,
                g.const(f"{hint}_g", gamma),
                g.const(f"{hint}_beta", beta),
                g.const(f"{hint}_bias", bias),
            ],
            domain="com.microsoft",
            epsilon=float(self.bert.config.layer_norm_eps),
        )

    def plain_constants(self, mask: str) -> tuple[str, str, str, str]:
        """(additive key bias (B, 1, 1, L), head split shape, head merge shape, 1/sqrt(d)),
        made once per graph."""
        if self._plain is None:
            g, cfg = self.g, self.bert.config
            h, heads = cfg.hidden_size, cfg.num_attention_heads
            key_bias = g.op(
                "Mul",
                [
                    g.op("Sub", [g.const("ones", np.array(1.0, np.float32)), mask]),
                    g.const("mask_value", np.array(-1e9, np.float32)),
                ],
            )
            self._plain = (
                g.op("Reshape", [key_bias, g.const("bias_shape", _i64(0, 1, 1, -1))]),
                g.const("heads_shape", _i64(0, 0, heads, h // heads)),
                g.const("merged_shape", _i64(0, 0, h)),
                g.const("scale", np.array(1.0 / math.sqrt(h // heads), np.float32)),
            )
        return self._plain

    def plain_layer(self, n: int, layer: _Layer, x: str, consts: tuple[str, str, str, str]) -> str:
        """One encoder layer from standard ONNX operators, every projection via `linear`."""
        g = self.g
        key_bias, heads_shape, merged_shape, scale = consts
        w_q, w_k, w_v = np.split(layer.w_qkv, 3, axis=1)
        b_q, b_k, b_v = np.split(layer.b_qkv, 3)

        def split_heads(t: str, perm: tuple[int, ...]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, heads_shape])], perm=list(perm))

        q = split_heads(self.linear(x, w_q, b_q, f"l{n}_q"), (0, 2, 1, 3))  # (B, h, L, d)
        k = split_heads(self.linear(x, w_k, b_k, f"l{n}_k"), (0, 2, 3, 1))  # (B, h, d, L)
        v = split_heads(self.linear(x, w_v, b_v, f"l{n}_v"), (0, 2, 1, 3))  # (B, h, L, d)
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), key_bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merged_shape])
        attn = g.op("Add", [self.linear(ctx, layer.w_out, layer.b_out, f"l{n}_o"), x])
        x = self.layer_norm(attn, layer.ln1_g, layer.ln1_b, f"l{n}_ln1")
        inter = g.op("Gelu", [self.linear(x, layer.w_in, layer.b_in, f"l{n}_in")])
        ff = g.op("Add", [self.linear(inter, layer.w_ff, layer.b_ff, f"l{n}_ff"), x])
        return self.layer_norm(ff, layer.ln2_g, layer.ln2_b, f"l{n}_ln2")

    def build(self) -> bytes:
        bert, g = self.bert, self.g
        h = bert.config.hidden_size

        # embeddings: word[ids] + pos[0..seq) + type0, then LayerNorm
        seq = g.op(
            "Gather", [g.op("Shape", ["input_ids"]), g.const("one", np.array(1, np.int64))], axis=0
        )
        positions = g.op(
            "Range",
            [g.const("zero", np.array(0, np.int64)), seq, g.const("step", np.array(1, np.int64))],
        )
        x = g.op("Gather", [g.const("word", bert.word), "input_ids"], axis=0)
        x = g.op("Add", [x, g.op("Gather", [g.const("pos", bert.pos), positions], axis=0)])
        x = g.op("Add", [x, g.const("type0", bert.type0)])
        x = self.layer_norm(x, bert.emb_g, bert.emb_b, "emb_ln")

        mask = g.op("Cast", ["attention_mask"], to=op.FLOAT)
        mask_i32 = g.op("Cast", ["attention_mask"], to=op.INT32)
        if self.weights == "fp32":
            packing = _Packing(g, h)
            x = packing.pack(x)
            for n, layer in enumerate(bert.layers):
                x = self.fused_layer(n, layer, x, mask_i32, packing)
            x = packing.unpack(x)  # padding rows are zero
        else:
            for n, layer in enumerate(bert.layers):
                x = self.plain_layer(n, layer, x, self.plain_constants(mask))

        # mean over real tokens: sum(x * mask) / sum(mask)
        mask3 = g.op("Unsqueeze", [mask, g.const("axis2", _i64(2))])
        summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), g.const("axis1", _i64(1))], keepdims=0)
        counts = g.op("ReduceSum", [mask3, g.const("axis1b", _i64(1))], keepdims=0)
        g.nodes.append(op.node("Div", [summed, counts], ["pooled"]))
        return g.model(
            inputs=[
                op.value_info("input_ids", op.INT64, ["batch", "seq"]),
                op.value_info("attention_mask", op.INT64, ["batch", "seq"]),
            ],
            outputs=[op.value_info("pooled", op.FLOAT, ["batch", h])],
            opsets=_OPSETS,
        )


def bert_onnx_model(
    bert: BertEncoder, weights: WeightFormat = "fp32", kinds: frozenset[str] = QUANTIZABLE
) -> bytes:
    """A serialised ONNX model of `bert` computing mean-pooled last hidden states; with
    ``int8`` weights, the projections named in `kinds` (see QUANTIZABLE) are quantised."""
    return _Builder(bert, weights, kinds).build()
