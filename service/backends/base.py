"""The backend protocol: the only thing the batcher knows about a model.

A backend turns a batch of already-tokenized pairs into raw reward scores. Implementations import torch,
onnxruntime or openvino inside their own modules, so choosing an ONNX-based backend never imports torch.

A backend of a multi-objective head returns every output per pair from `score`, (B, K); a backend that
serves process reward models also has `score_steps` (see `StepBackend`): the two-label logits at each
scored step of each item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from models.formatting import EncodedPair
from models.shared_prefix import SharedGroup
from models.steps import EncodedSteps


class BackendError(RuntimeError):
    """A forward pass failed. The message is safe to show to a client (no input text in it)."""


@runtime_checkable
class Backend(Protocol):
    """One loaded reward model on one device.

    `score` is called from the batcher's worker threads, possibly from several at once: implementations
    must be thread-safe for concurrent `score` calls (or serialise internally).
    """

    name: str  # "torch", "onnx" or "openvino"
    device: str  # "cpu", "cuda", "cuda:1", ...
    dtype: str  # "fp32", "fp16", "bf16", "int8"

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),), in batch order; (len(batch), K) for a head with K > 1
        outputs. Raises BackendError on failure."""
        ...

    def close(self) -> None:
        """Release the model; later `score` calls are undefined."""
        ...


@runtime_checkable
class StepBackend(Backend, Protocol):
    """A backend that also serves process reward models (same thread-safety as `score`)."""

    def score_steps(self, batch: Sequence[EncodedSteps]) -> list[np.ndarray]:
        """Per item, in batch order, float32 (len(item.score_positions), 2): the head's two logits (wrong,
        right) at each scored step. Raises BackendError on failure."""
        ...


@runtime_checkable
class PrefixSharingBackend(Backend, Protocol):
    """A backend that can compute a prefix shared by several rows once (the torch backend on causal models).

    `shares_prefixes` is False when this backend's model cannot (an encoder attends bidirectionally, so a
    prompt's states depend on the response; sliding-window layers); `prefix_sharing_note` says why.
    Backends without a reusable cache (onnx, whose exported graph takes whole sequences) do not implement it.
    """

    shares_prefixes: bool
    prefix_sharing_note: str

    def score_shared(
        self,
        batch: Sequence[EncodedPair],
        groups: Sequence[SharedGroup],
        row_passes: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Like `score`, computing each group's prefix once; rows in no group run as whole sequences.

        `row_passes` (batch indices of the grouped rows, each in one) runs the grouped rows' remainders in
        that many passes over the prefixes' cache (`models.shared_prefix.split_row_passes`); None: one.

        Scores equal `score(batch)`'s within floating-point reordering (tested at 1e-4 in fp32).
        """
        ...
