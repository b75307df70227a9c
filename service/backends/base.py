"""The backend protocol: the only thing the batcher knows about a model.

A backend turns a batch of already-tokenized pairs into raw reward scores. Implementations import torch
or onnxruntime inside their own modules, so choosing the ONNX backend never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from models.formatting import EncodedPair


class BackendError(RuntimeError):
    """A forward pass failed. The message is safe to show to a client (no input text in it)."""


@runtime_checkable
class Backend(Protocol):
    """One loaded reward model on one device.

    `score` is called from the batcher's worker threads, possibly from several at once: implementations
    must be thread-safe for concurrent `score` calls (or serialise internally).
    """

    name: str  # "torch" or "onnx"
    device: str  # "cpu", "cuda", "cuda:1", ...
    dtype: str  # "fp32", "fp16", "bf16", "int8"

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),), in batch order. Raises BackendError on failure."""
        ...

    def close(self) -> None:
        """Release the model; later `score` calls are undefined."""
        ...
