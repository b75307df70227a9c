"""The OpenVINO backend: an exported reward model (`model.onnx`) on OpenVINO's CPU plugin, fp32 or bf16.

On the torch-free serving path: it imports openvino and numpy, never torch or onnxruntime. The
compiled model has one stream per backend worker, so every worker runs its own infer request in
parallel; `threads_per_worker` cores serve each stream. Pairs are padded by `models.batching`, exactly as
for the other backends. bf16 rounds activations to 8 mantissa bits, so a pair's score may move by about
1e-3 of the score scale with the shapes it is batched in (the kernels block differently); see the
fidelity gate (`models.fidelity`) for what that does to comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.folder import ModelFolder, ModelLoadError
from models.formatting import EncodedPair
from models.openvino_runtime import OpenVinoModel
from service.backends.base import BackendError


class OpenVinoBackend:
    """One exported reward model compiled by OpenVINO for the CPU.

    Thread-safety: `score` may be called from up to `workers` threads at once (one infer request and
    one stream each; more threads queue on the streams).
    """

    name = "openvino"

    def __init__(
        self,
        folder: ModelFolder,
        pad_token_id: int,
        dtype: str = "fp32",
        threads_per_worker: int | None = None,
        workers: int = 1,
        device: str = "cpu",
    ) -> None:
        if folder.onnx_file is None:
            raise ModelLoadError(f"{folder.path} has no model.onnx; export one with: rmserve export")
        if device != "cpu":
            raise ModelLoadError(f"the openvino backend runs on the CPU, not {device}")
        exported = folder.card.export.dtype if folder.card and folder.card.export else "fp32"
        if exported != "fp32":
            raise ModelLoadError(
                f"the openvino backend runs an fp32 model.onnx (bf16 is chosen at compile time); {folder.path} "
                f"holds a {exported} export: serve it with --backend onnx"
            )
        self.device = device
        self.requested_dtype = dtype
        self._model: OpenVinoModel | None = OpenVinoModel(
            folder.onnx_file, pad_token_id, dtype, threads_per_stream=threads_per_worker, streams=workers
        )
        self.dtype: str = self._model.precision

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),), in batch order. Raises BackendError on failure."""
        if self._model is None:
            raise BackendError("the openvino backend is closed")
        try:
            return self._model.score(batch)
        except Exception as exc:  # OpenVINO's errors carry shapes, never input text
            raise BackendError(f"OpenVINO forward pass failed ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._model = None
