"""The torch-free scoring runtime: how a batch of encoded pairs becomes scores, wherever it is scored.

The server's backends (`service.backends`), evaluation, export, quantization, calibration and the start-up
self-test all score through what is here, so that a pair is fed and batched one way everywhere:

- `ScoreFn`: a batch of encoded pairs -> raw scores, float32, shape (B,) (or (B, K) for a K-output head),
  in batch order.
- `score_in_length_order`: many pairs through a `ScoreFn`, in batches of similar length.
- ONNX: the inputs `rmserve export` gives model.onnx (`ONNX_INPUT_NAMES`; fed by `models.batching.model_inputs`),
  the metadata it writes into it (`OnnxMetadata`), the session options (`onnx_session`) and `onnx_score_fn`.
- `choose_runtime`: the "auto" rule, the one place that turns "auto" into a runtime family (onnx or torch).
- `available_cpus`: the default thread count of every scorer (the CPUs this process may run on).

This module imports numpy and `models.batching`/`models.formatting` only; onnxruntime is imported inside the
functions that open a session, and torch never (the torch side of thread setup is
`models.torch_model.configure_threads`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.batching import model_inputs
from models.formatting import EncodedPair

ScoreFn = Callable[[Sequence[EncodedPair]], np.ndarray]

# Inputs an exported model may take (it takes input_ids always, the others when its architecture does).
ONNX_INPUT_NAMES = frozenset({"input_ids", "attention_mask", "token_type_ids"})
# Keys of model.onnx's metadata_props, written by `rmserve export` and read without the onnx package.
DTYPE_METADATA_KEY = "rmserve_dtype"
ROWS_PER_RUN_METADATA_KEY = "rmserve_rows_per_run"
CPU_PROVIDERS = ("CPUExecutionProvider",)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which a container's CPU limit narrows; the
    machine's core count would oversubscribe it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity masks on this OS (macOS)
        return max(1, os.cpu_count() or 1)


def choose_runtime(requested: str, has_onnx: bool) -> str:
    """The runtime family that scores a folder: `requested` itself unless it is "auto", which means onnx when
    the folder holds model.onnx (an export is what the folder was prepared for), else torch. (Which backend
    and precision then serve an ONNX file is `service.backend_choice.choose_backend`'s to pick.)"""
    if requested != "auto":
        return requested
    return "onnx" if has_onnx else "torch"


def score_in_length_order(
    score_fn: ScoreFn, encoded: Sequence[EncodedPair], batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """Raw scores of `encoded`, float32 shape (len(encoded),), in input order; (len(encoded), K) when
    `score_fn` answers K outputs per pair (a multi-objective head).

    Items run in batches of `batch_size` pairs of similar length (longest first, so a memory problem shows
    on the first batch) so that little compute goes to padding; right padding keeps each score independent
    of its batch neighbours, so the order changes no score. `progress` shows a tqdm bar.
    """
    from tqdm import tqdm

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = sorted(range(len(encoded)), key=lambda i: encoded[i].num_tokens, reverse=True)
    scores: np.ndarray | None = None
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress, leave=False):
        indices = order[start : start + batch_size]
        values = np.asarray(score_fn([encoded[i] for i in indices]), dtype=np.float32).reshape(len(indices), -1)
        if scores is None:
            scores = np.empty((len(encoded), values.shape[1]), dtype=np.float32)
        scores[indices] = values
    if scores is None:
        return np.empty(0, dtype=np.float32)
    return scores[:, 0] if scores.shape[1] == 1 else scores


@dataclass(frozen=True)
class OnnxMetadata:
    """What `rmserve export` records in model.onnx itself, so that a server needs no card to serve it right.

    `dtype`: "fp32", "fp16" or "int8" (None when the file was not written by rmserve). `rows_per_run`: 1 for
    a model that must run one pair per run (dynamic int8: its activation scales are computed over the whole
    input, so running pairs alone is what keeps a score independent of its batch neighbours), else None.
    """

    dtype: str | None = None
    rows_per_run: int | None = None

    @classmethod
    def from_map(cls, values: Mapping[str, str]) -> OnnxMetadata:
        """Read from an onnxruntime session's `get_modelmeta().custom_metadata_map`."""
        return cls(
            dtype=values.get(DTYPE_METADATA_KEY) or None,
            rows_per_run=1 if values.get(ROWS_PER_RUN_METADATA_KEY) == "1" else None,
        )

    def to_map(self) -> dict[str, str]:
        """The metadata_props to write (only the fields that are set)."""
        values = {}
        if self.dtype is not None:
            values[DTYPE_METADATA_KEY] = self.dtype
        if self.rows_per_run is not None:
            values[ROWS_PER_RUN_METADATA_KEY] = str(self.rows_per_run)
        return values


def onnx_session(
    path: Path,
    providers: Sequence[str] = CPU_PROVIDERS,
    threads: int | None = None,
    provider_options: Sequence[dict[str, Any]] | None = None,
    quiet: bool = False,
) -> Any:
    """An onnxruntime InferenceSession of `path` with rmserve's options: every graph optimization, operators
    run one after the other (inter-op 1: a transformer is a chain), `threads` intra-op threads (None:
    onnxruntime's default, one per core). `quiet` logs errors only (for short-lived sessions, such as
    export's gates). Raises whatever onnxruntime raises for an unloadable file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    if quiet:
        options.log_severity_level = 3
    options_list = list(provider_options) if provider_options is not None else None
    return ort.InferenceSession(str(path), options, providers=list(providers), provider_options=options_list)


def onnx_score_fn(
    path: Path, pad_token_id: int, providers: Sequence[str] = CPU_PROVIDERS, threads: int | None = None
) -> ScoreFn:
    """A `ScoreFn` over an onnxruntime session of `path`, fed as the ONNX backend feeds it (one pair per run
    when the file's metadata says so). Not thread-safe beyond what onnxruntime's `run` is (which is)."""
    session = onnx_session(path, providers, threads, quiet=True)
    names = [node.name for node in session.get_inputs()]
    metadata = OnnxMetadata.from_map(session.get_modelmeta().custom_metadata_map)

    def run(batch: Sequence[EncodedPair]) -> np.ndarray:
        output = session.run(None, model_inputs(batch, pad_token_id, names))[0]
        return np.asarray(output, dtype=np.float32).reshape(-1)

    def score(batch: Sequence[EncodedPair]) -> np.ndarray:
        if metadata.rows_per_run == 1 and len(batch) > 1:
            return np.concatenate([run([item]) for item in batch])
        return run(batch)

    return score
