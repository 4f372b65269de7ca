"""A BERT encoder forward pass in numpy (float32), reading Hugging Face safetensors weights.

Implements exactly what `transformers.BertModel` computes in eval mode for the absolute
position embedding variant (all-MiniLM-L6-v2 and other small sentence encoders): embeddings
(word + position + token type) -> LayerNorm -> N x [self-attention -> add & LayerNorm ->
GELU feed-forward -> add & LayerNorm]. Dropout is the identity at inference. GELU is the exact
(erf) form, with erf evaluated by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32
resolution of the activations that matter).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]

_MASK_VALUE = np.float32(-1e9)  # added to attention logits of padding keys


@dataclass(frozen=True)
class BertConfig:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    layer_norm_eps: float
    hidden_act: str = "gelu"
    position_embedding_type: str = "absolute"

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        cfg = cls(
            hidden_size=int(raw["hidden_size"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            num_attention_heads=int(raw["num_attention_heads"]),
            intermediate_size=int(raw["intermediate_size"]),
            max_position_embeddings=int(raw["max_position_embeddings"]),
            layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
            hidden_act=str(raw.get("hidden_act", "gelu")),
            position_embedding_type=str(raw.get("position_embedding_type", "absolute")),
        )
        if cfg.hidden_act != "gelu" or cfg.position_embedding_type != "absolute":
            raise ValueError(
                f"unsupported BERT variant: hidden_act={cfg.hidden_act!r}, "
                f"position_embedding_type={cfg.position_embedding_type!r}"
            )
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError("hidden_size is not a multiple of num_attention_heads")
        return cfg


@dataclass(frozen=True)
class _Layer:
    w_qkv: F32  # (H, 3H): query, key and value projections fused into one matmul
    b_qkv: F32
    w_out: F32  # (H, H)
    b_out: F32
    ln1_g: F32
    ln1_b: F32
    w_in: F32  # (H, I)
    b_in: F32
    w_ff: F32  # (I, H)
    b_ff: F32
    ln2_g: F32
    ln2_b: F32


def _strip_prefix(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accepts both bare BertModel keys and keys under a "bert." prefix."""
    if any(k.startswith("embeddings.") for k in weights):
        return weights
    return {k.removeprefix("bert."): v for k, v in weights.items()}


def _t(w: np.ndarray) -> F32:
    """torch Linear stores (out, in); x @ W.T is the layer, so keep W.T contiguous."""
    return np.ascontiguousarray(w.T, dtype=np.float32)


def _f(w: np.ndarray) -> F32:
    return np.ascontiguousarray(w, dtype=np.float32)


def layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = np.mean(np.square(xc), axis=-1, keepdims=True)
    xc *= 1.0 / np.sqrt(var + np.float32(eps))
    xc *= gamma
    xc += beta
    return xc


# Abramowitz & Stegun 7.1.26
_P = np.float32(0.3275911)
_A1, _A2, _A3, _A4, _A5 = (
    np.float32(0.254829592),
    np.float32(-0.284496736),
    np.float32(1.421413741),
    np.float32(-1.453152027),
    np.float32(1.061405429),
)
_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))


def gelu_(x: F32, scratch: tuple[F32, F32, F32] | None = None) -> F32:
    """Exact GELU, x * Phi(x), in place on the 2-D array `x` (returned).

    Every step writes into preallocated scratch rows: this runs about 3x faster than the
    same arithmetic with numpy temporaries, which is what dominates a naive forward pass.
    """
    rows, cols = x.shape
    z, t, p = scratch if scratch is not None else _gelu_scratch(rows, cols)
    z, t, p = z[:rows], t[:rows], p[:rows]
    np.abs(x, out=z)
    z *= _INV_SQRT2
    np.multiply(z, _P, out=t)
    t += 1.0
    np.reciprocal(t, out=t)
    np.multiply(t, _A5, out=p)
    for a in (_A4, _A3, _A2, _A1):
        p += a
        p *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    p *= z
    p *= 0.5  # p = (1 - erf(|x|/sqrt2)) / 2 = Phi(-|x|)
    # Phi(x) = 1 - p for x >= 0, p for x < 0; copysign gives -p / +p, the comparison adds 1
    np.copysign(p, -x, out=z)
    z += x >= 0
    x *= z
    return x


def _gelu_scratch(rows: int, cols: int) -> tuple[F32, F32, F32]:
    return (
        np.empty((rows, cols), np.float32),
        np.empty((rows, cols), np.float32),
        np.empty((rows, cols), np.float32),
    )


class BertEncoder:
    """The BERT stack: token ids and attention mask in, last hidden states out."""

    ffn_block_rows = 256
    """Token rows per feed-forward block: 256 x 1536 float32 is 1.5 MB, within L2."""

    def __init__(self, config: BertConfig, weights: dict[str, np.ndarray]) -> None:
        self.config = config
        w = _strip_prefix(weights)
        self.word = _f(w["embeddings.word_embeddings.weight"])
        self.pos = _f(w["embeddings.position_embeddings.weight"])
        self.type0 = _f(w["embeddings.token_type_embeddings.weight"][0])
        self.emb_g = _f(w["embeddings.LayerNorm.weight"])
        self.emb_b = _f(w["embeddings.LayerNorm.bias"])
        self.layers: list[_Layer] = []
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."
            q, k, v = (w[f"{p}attention.self.{n}.weight"] for n in ("query", "key", "value"))
            self.layers.append(
                _Layer(
                    w_qkv=_t(np.concatenate([q, k, v], axis=0)),
                    b_qkv=_f(
                        np.concatenate(
                            [w[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value")]
                        )
                    ),
                    w_out=_t(w[f"{p}attention.output.dense.weight"]),
                    b_out=_f(w[f"{p}attention.output.dense.bias"]),
                    ln1_g=_f(w[f"{p}attention.output.LayerNorm.weight"]),
                    ln1_b=_f(w[f"{p}attention.output.LayerNorm.bias"]),
                    w_in=_t(w[f"{p}intermediate.dense.weight"]),
                    b_in=_f(w[f"{p}intermediate.dense.bias"]),
                    w_ff=_t(w[f"{p}output.dense.weight"]),
                    b_ff=_f(w[f"{p}output.dense.bias"]),
                    ln2_g=_f(w[f"{p}output.LayerNorm.weight"]),
                    ln2_b=_f(w[f"{p}output.LayerNorm.bias"]),
                )
            )

    @classmethod
    def from_pretrained(cls, model_dir: Path) -> BertEncoder:
        """Reads config.json and model.safetensors from a Hugging Face model folder."""
        from safetensors.numpy import load_file

        config = BertConfig.from_file(model_dir / "config.json")
        return cls(config, load_file(str(model_dir / "model.safetensors")))

    def forward(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, *, packed: bool = True
    ) -> F32:
        """(B, L) ids and 0/1 mask (right padding) -> (B, L, H) last hidden states, token
        type 0 throughout. Rows at padding positions are zero when `packed` (the default)."""
        b, seq = input_ids.shape
        tokens = np.flatnonzero(attention_mask.reshape(-1)) if packed else None
        x = self.forward_tokens(input_ids, attention_mask, tokens)
        if tokens is None:
            return x.reshape(b, seq, -1)
        out = np.zeros((b * seq, x.shape[1]), dtype=np.float32)
        out[tokens] = x
        return out.reshape(b, seq, -1)

    def mean_pooled(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> F32:
        """(B, H) mean of the last hidden states over each text's real tokens (packed run)."""
        tokens = np.flatnonzero(attention_mask.reshape(-1))
        x = self.forward_tokens(input_ids, attention_mask, tokens)
        lengths = attention_mask.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)

    def forward_tokens(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, tokens: np.ndarray | None
    ) -> F32:
        """Hidden states of the flat (B*L) positions `tokens` (all positions if None).

        Position-wise work (projections, feed-forward, LayerNorm), which is nearly all of
        the arithmetic, runs on the real tokens only ("packed"); only attention needs the
        padded (B, heads, L, L) layout, so its inputs are scattered into it and its output
        gathered back. With length-sorted batches this saves the 10-15% of positions that
        are padding; with unsorted ones, about 40%.
        """
        cfg = self.config
        b, seq = input_ids.shape
        if seq > cfg.max_position_embeddings:
            raise ValueError(f"sequence of {seq} tokens exceeds {cfg.max_position_embeddings}")
        heads = cfg.num_attention_heads
        hd = cfg.hidden_size // heads
        h = cfg.hidden_size
        eps = cfg.layer_norm_eps
        if tokens is not None and len(tokens) == b * seq:
            tokens = None  # nothing to skip

        flat_ids = input_ids.reshape(-1)
        positions = np.tile(np.arange(seq), b)
        if tokens is not None:
            flat_ids, positions = flat_ids[tokens], positions[tokens]
        x = self.word[flat_ids]  # (N, H), a fresh array
        x += self.pos[positions]
        x += self.type0
        x = layer_norm(x, self.emb_g, self.emb_b, eps)

        # additive mask over keys, broadcast over heads and queries: (B, 1, 1, L)
        key_bias = ((1.0 - attention_mask.astype(np.float32)) * _MASK_VALUE)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(hd))
        padded_qkv = None if tokens is None else np.zeros((b * seq, 3 * h), dtype=np.float32)

        for layer in self.layers:
            qkv = x @ layer.w_qkv
            qkv += layer.b_qkv
            if padded_qkv is not None:
                padded_qkv[tokens] = qkv
                qkv = padded_qkv
            # (B, L, 3, heads, hd) -> three (B, heads, L, hd) views
            qkv = qkv.reshape(b, seq, 3, heads, hd).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)  # (B, heads, L, L)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b * seq, h)
            if tokens is not None:
                ctx = ctx[tokens]
            attn = ctx @ layer.w_out
            attn += layer.b_out
            attn += x
            x = layer_norm(attn, layer.ln1_g, layer.ln1_b, eps)
            x = layer_norm(self._feed_forward(layer, x), layer.ln2_g, layer.ln2_b, eps)
        return x

    def _feed_forward(self, layer: _Layer, x: F32) -> F32:
        """x + W_ff gelu(W_in x), in row blocks so the (rows, intermediate) block stays in cache."""
        n = x.shape[0]
        rows = self.ffn_block_rows
        scratch = _gelu_scratch(min(rows, n), self.config.intermediate_size)
        out = np.empty_like(x)
        for s in range(0, n, rows):
            xs = x[s : s + rows]
            inter = xs @ layer.w_in
            inter += layer.b_in
            gelu_(inter, scratch)
            o = out[s : s + rows]
            np.matmul(inter, layer.w_ff, out=o)
            o += layer.b_ff
            o += xs
        return out
