"""An exported reward model (`model.onnx`) on OpenVINO, Intel's runtime for the CPU's matrix units.

OpenVINO reads the same `model.onnx` that onnxruntime serves; the precision is a compile-time hint
(`INFERENCE_PRECISION_HINT`): "bf16" runs the matrix multiplications on AMX tiles or AVX512-BF16 where the
CPU has them, "fp32" keeps full precision. A CPU without bf16 units ignores the hint and computes in fp32;
`OpenVinoModel.precision` reports what the compiled model really runs. Streams (`NUM_STREAMS`) are
OpenVINO's unit of concurrency: one stream per worker thread that calls `score`, and each of them gets
`threads_per_stream` cores (`INFERENCE_NUM_THREADS` is their total).

Used by the server's `openvino` backend, by `rmserve eval --backend openvino` and by export's bf16 gate.
Imports openvino and numpy, never torch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from models.batching import model_inputs
from models.folder import ModelLoadError
from models.formatting import EncodedPair

OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
_FROM_OPENVINO = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


def openvino_version() -> str:
    return str(ov.__version__).split("-")[0]


class OpenVinoModel:
    """One compiled model.onnx: `score` pads a batch, runs it, and returns float32 scores of shape (B,).

    Thread-safety: `score` may be called from several threads at once; each thread gets its own
    `InferRequest` (OpenVINO's requests are not thread-safe; the compiled model is), and requests run in
    parallel on up to `streams` streams.
    """

    def __init__(
        self,
        onnx_file: Path,
        pad_token_id: int,
        precision: str = "fp32",
        threads_per_stream: int | None = None,
        streams: int = 1,
    ) -> None:
        if precision not in OPENVINO_PRECISIONS:
            raise ModelLoadError(f"OpenVINO runs fp32 or bf16 on the CPU, not {precision}")
        self.pad_token_id = pad_token_id
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
            "NUM_STREAMS": str(max(1, streams)),
        }
        if threads_per_stream:
            config["INFERENCE_NUM_THREADS"] = threads_per_stream * max(1, streams)
        try:
            core = ov.Core()
            self._compiled: Any = core.compile_model(core.read_model(str(onnx_file)), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own, with the reason
            raise ModelLoadError(f"OpenVINO cannot compile {onnx_file}: {str(exc).splitlines()[0][:300]}") from exc
        self.input_names = [port.get_any_name() for port in self._compiled.inputs]
        if "input_ids" not in self.input_names:
            raise ModelLoadError(f"{onnx_file} takes inputs {self.input_names}; export it with: rmserve export")
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        self.precision = _FROM_OPENVINO.get(name, name)
        self._requests = threading.local()

    def _request(self) -> Any:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._compiled.create_infer_request()
            self._requests.request = request
        return request

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),); OpenVINO's own exceptions propagate."""
        if not batch:
            return np.empty(0, dtype=np.float32)
        request = self._request()
        request.infer(model_inputs(batch, self.pad_token_id, self.input_names))
        scores = np.array(request.get_output_tensor(0).data, dtype=np.float32).reshape(-1)
        if scores.shape != (len(batch),):
            raise RuntimeError(f"model.onnx returned {scores.shape[0]} scores for a batch of {len(batch)}")
        return scores
