"""The ONNX backend: an exported reward model (`model.onnx`) on onnxruntime (CPU, CUDA or TensorRT).

This module is on the torch-free serving path: it imports onnxruntime and numpy, never torch or
transformers. Pairs are fed as everywhere else an export is scored (`models.batching.model_inputs`,
`models.runtime`: right padding, the metadata rmserve export writes), so the server scores what export and
evaluation measured.

Execution providers come from the settings (`onnx_providers`, e.g. "cuda,cpu" or full onnxruntime names);
when none are given they follow the device: CPU -> CPUExecutionProvider, cuda:N -> CUDA then CPU (for the
few operators CUDA lacks). On a GPU the inputs and the output go through an IO binding, so that
onnxruntime copies them once and allocates the output on the device instead of in host memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from models.batching import model_inputs
from models.folder import ModelFolder, ModelLoadError
from models.formatting import EncodedPair
from models.runtime import ONNX_INPUT_NAMES, OnnxMetadata, onnx_session
from service.backends.base import BackendError

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
GPU_PROVIDERS = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})


def resolve_providers(device: str, requested: Sequence[str] | None) -> list[str]:
    """Full onnxruntime provider names, in priority order, for `device` and the requested list.

    Aliases: cpu, cuda, tensorrt (or trt). Raises ModelLoadError for an unknown name, a provider this
    onnxruntime build lacks, or a GPU provider on a CPU device (and vice versa).
    """
    on_gpu = device.startswith("cuda")
    if requested:
        names = [PROVIDER_ALIASES.get(name.strip().lower(), name.strip()) for name in requested]
    else:
        names = ["CUDAExecutionProvider", "CPUExecutionProvider"] if on_gpu else ["CPUExecutionProvider"]
    all_known = set(ort.get_all_providers())
    unknown = [name for name in names if name not in all_known]
    if unknown:
        raise ModelLoadError(
            f"unknown onnxruntime provider(s) {', '.join(unknown)}; use cpu, cuda, tensorrt or a full name"
        )
    available = set(ort.get_available_providers())
    missing = [name for name in names if name not in available]
    if missing:
        hint = " (install the rmserve[gpu] extra: onnxruntime-gpu)" if GPU_PROVIDERS & set(missing) else ""
        raise ModelLoadError(
            f"onnxruntime provider(s) {', '.join(missing)} not available here{hint}; "
            f"available: {', '.join(sorted(available))}"
        )
    if on_gpu and not GPU_PROVIDERS & set(names):
        raise ModelLoadError(f"device {device} needs a GPU provider (cuda or tensorrt), got {', '.join(names)}")
    if not on_gpu and GPU_PROVIDERS & set(names):
        raise ModelLoadError(f"provider(s) {', '.join(names)} need --device cuda, not {device}")
    return names


def _device_id(device: str) -> int:
    return int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0


class OnnxBackend:
    """One exported reward model in one onnxruntime session.

    Thread-safety: `score` may be called from several worker threads at once; `InferenceSession.run` is
    thread-safe and every call gets its own IO binding. Each call uses up to `threads_per_worker` intra-op
    threads (None: onnxruntime's default, one per core); operators run sequentially (inter-op 1), which is
    what a transformer's chain of operators can use.
    """

    name = "onnx"

    def __init__(
        self,
        folder: ModelFolder,
        pad_token_id: int,
        device: str = "cpu",
        threads_per_worker: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        if folder.onnx_file is None:
            raise ModelLoadError(f"{folder.path} has no model.onnx; export one with: rmserve export")
        self.device = device
        self.pad_token_id = pad_token_id
        self.providers = resolve_providers(device, providers)
        self._on_gpu = device.startswith("cuda")
        provider_options: list[dict[str, Any]] = [
            {"device_id": _device_id(device)} if name in GPU_PROVIDERS else {} for name in self.providers
        ]
        try:
            self._session: Any = onnx_session(folder.onnx_file, self.providers, threads_per_worker, provider_options)
        except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
            raise ModelLoadError(f"onnxruntime cannot load {folder.onnx_file}: {exc}") from exc
        self._input_names = [node.name for node in self._session.get_inputs()]
        unexpected = [name for name in self._input_names if name not in ONNX_INPUT_NAMES]
        if unexpected or "input_ids" not in self._input_names:
            raise ModelLoadError(
                f"{folder.onnx_file} takes inputs {self._input_names}; rmserve feeds input_ids, attention_mask "
                "and token_type_ids (export the model with: rmserve export)"
            )
        self._output_name: str = self._session.get_outputs()[0].name
        metadata = OnnxMetadata.from_map(self._session.get_modelmeta().custom_metadata_map)
        exported = folder.card.export if folder.card else None
        self.dtype: str = metadata.dtype or (exported.dtype if exported else "fp32")
        self.rows_per_run: int | None = metadata.rows_per_run

    @property
    def active_providers(self) -> list[str]:
        """The providers the session actually runs with (onnxruntime drops those it cannot use)."""
        return list(self._session.get_providers())

    def _run_on_gpu(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output(self._output_name, "cuda", _device_id(self.device))
        self._session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0])

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),), in batch order. Raises BackendError on failure.

        A model marked to run one pair per run (int8) runs the batch's pairs one after the other."""
        if not batch:
            return np.empty(0, dtype=np.float32)
        if self.rows_per_run == 1 and len(batch) > 1:
            return np.concatenate([self._score_run([item]) for item in batch])
        return self._score_run(batch)

    def _score_run(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        feeds = model_inputs(batch, self.pad_token_id, self._input_names)
        try:
            output = self._run_on_gpu(feeds) if self._on_gpu else self._session.run([self._output_name], feeds)[0]
        except Exception as exc:  # onnxruntime's errors carry shapes, never input text
            raise BackendError(f"onnxruntime forward pass failed ({type(exc).__name__})") from exc
        scores = np.asarray(output, dtype=np.float32).reshape(-1)
        if scores.shape != (len(batch),):
            raise BackendError(f"model.onnx returned {scores.shape[0]} scores for a batch of {len(batch)}")
        return scores

    def close(self) -> None:
        self._session = None
