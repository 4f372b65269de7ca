"""The BERT encoder run by ONNX Runtime: the same weights and arithmetic as the numpy runtime,
on ONNX Runtime's CPU kernels (MLAS GEMM, fused attention, bias + residual + LayerNorm).

`OnnxBert.mean_pooled` has the signature of `BertEncoder.mean_pooled`, so `SentenceEncoder`
uses either. The graph is built in memory from the numpy encoder's weights
(`flink.scoring.onnx_graph`); nothing is written to disk. One ONNX Runtime session per thread
count is created on first use (a session's intra-op pool size is fixed at creation).

Measured with one thread, references cached (bench/bench_scorers.py --only variants, 1,000
synthetic corpus pairs): fp32 scores 1.1-1.2x the numpy runtime's pairs per CPU-second with the
same scores (max difference 5.4e-7): both are GEMM-bound and both skip padding in the
position-wise layers; ONNX Runtime's GEMM (MLAS) is faster than numpy's OpenBLAS, little of
which is left once tokenisation, attention and the short texts' overheads are counted. int8
scores 1.9-2.4x, but its scores differ from fp32 by up to 5.1e-2 (per-channel int8 weights
alone already move them by 1.5e-2), far outside the scorer's 1e-3 bound: opt-in only.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from flink.scoring.bert import F32, BertConfig, BertEncoder
from flink.scoring.onnx_graph import WeightFormat, bert_onnx_model

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)


def onnxruntime_available() -> bool:
    """True when the onnxruntime package can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxBert:
    """Mean-pooled BERT hidden states computed by ONNX Runtime.

    Parameters:
        bert: the loaded numpy encoder whose weights the graph is built from (kept for
            building sessions for other thread counts).
        weights: "fp32" (same results as the numpy runtime) or "int8" (dynamic quantisation
            of every projection; faster, less exact: see `flink.scoring.onnx_graph`).
    """

    def __init__(self, bert: BertEncoder, weights: WeightFormat = "fp32") -> None:
        self._bert = bert
        self.weights: WeightFormat = weights
        self._model: bytes | None = None
        self._sessions: dict[int, onnxruntime.InferenceSession] = {}
        self._lock = threading.Lock()

    @property
    def config(self) -> BertConfig:
        return self._bert.config

    def session(self, threads: int) -> onnxruntime.InferenceSession:
        """The session with `threads` intra-op threads, created on first use."""
        with self._lock:
            sess = self._sessions.get(threads)
            if sess is None:
                sess = self._sessions[threads] = self._create(threads)
            return sess

    def _create(self, threads: int) -> onnxruntime.InferenceSession:
        import onnxruntime as ort

        start = time.perf_counter()
        if self._model is None:
            self._model = bert_onnx_model(self._bert, self.weights)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The Flink worker shares its cores: idle pool threads sleep rather than spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about constant folding are noise here
        sess = ort.InferenceSession(self._model, options, providers=["CPUExecutionProvider"])
        log.info(
            "onnxruntime %s session (%s, %d threads) ready in %.2fs",
            ort.__version__,
            self.weights,
            threads,
            time.perf_counter() - start,
        )
        return sess

    def mean_pooled(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, threads: int = 1
    ) -> F32:
        """(B, H) mean of the last hidden states over each text's real tokens, from (B, L)
        token ids and 0/1 mask (right padding)."""
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        (pooled,) = self.session(threads).run(["pooled"], feeds)
        return np.asarray(pooled, dtype=np.float32)
