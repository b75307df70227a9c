"""The torch backend: a Hugging Face reward model on CPU or CUDA (imports torch).

It serves every head of `models.heads`: one-output and multi-objective sequence classifiers through
`score`, process reward models through `score_steps`.

fp32, fp16 and bf16; SDPA attention where the architecture supports it (the loader falls back to the
default attention otherwise). Pairs are right-padded with `models.batching.pad_batch`, so a pair's score
does not depend on the batch it runs in. On causal models `score_shared` runs each group's shared prefix
once and reuses its cache for the group's rows (`models.torch_prefix`); encoders cannot (bidirectional
attention makes a prompt's states depend on its response) and always score whole sequences.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.folder import ModelFolder
from models.formatting import EncodedPair
from models.heads import RewardHead
from models.shared_prefix import SharedGroup
from models.steps import EncodedSteps
from models.torch_model import (
    DType,
    head_outputs_encoded,
    load_torch_reward_model,
    score_encoded,
    step_logits_encoded,
)
from models.torch_prefix import prefix_sharing_unsupported, score_groups
from service.backends.base import BackendError


class TorchBackend:
    """One reward model on one device.

    Thread-safety: `score` may run in several worker threads at once; the model is only read (inference
    mode, no caches). On CPU each calling thread uses `threads_per_worker` intra-op threads.
    """

    name = "torch"

    def __init__(
        self,
        folder: ModelFolder,
        pad_token_id: int,
        device: str = "cpu",
        dtype: DType = "fp32",
        threads_per_worker: int = 1,
        trust_remote_code: bool = False,
        head: RewardHead | None = None,
    ) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device} requested but torch sees no CUDA device")
        if device == "cpu" and dtype == "fp16":
            raise BackendError("fp16 on the CPU is slow and inexact in torch; use fp32 or bf16")
        self.device = device
        self.dtype: str = dtype
        self.pad_token_id = pad_token_id
        self.threads_per_worker = threads_per_worker
        self.head = head or RewardHead("reward")
        torch.set_num_threads(threads_per_worker)
        self._thread_setup = threading.local()
        self.model: Any = load_torch_reward_model(
            folder,
            pad_token_id,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            attn_implementation="sdpa",
            require_head=True,
            head=self.head,
        )
        unsupported = "an encoder attends bidirectionally" if folder.kind != "decoder" else None
        if self.head.kind != "reward":
            unsupported = unsupported or f"a {self.head.kind} head is scored whole"
        unsupported = unsupported or prefix_sharing_unsupported(self.model)
        self.shares_prefixes = unsupported is None
        self.prefix_sharing_note = unsupported or "causal model: a shared prefix is computed once per batch"

    def _setup_thread(self) -> None:
        if not getattr(self._thread_setup, "done", False):
            # The intra-op thread count is per calling thread under OpenMP; set it once per worker.
            torch.set_num_threads(self.threads_per_worker)
            self._thread_setup.done = True

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),), or (len(batch), K) for a multi-objective head.
        Raises BackendError on failure (and for a process head, which scores steps)."""
        if self.head.kind == "process":
            raise BackendError("a process reward model scores steps, not pairs")
        self._setup_thread()
        try:
            if self.head.kind == "multi_objective":
                return head_outputs_encoded(self.model, batch, self.pad_token_id, self.device)
            return score_encoded(self.model, batch, self.pad_token_id, self.device)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise _failure(exc) from exc

    def score_steps(self, batch: Sequence[EncodedSteps]) -> list[np.ndarray]:
        """Per item float32 (len(item.score_positions), 2) logits. Raises BackendError on failure."""
        if self.head.kind != "process":
            raise BackendError("the served model is not a process reward model")
        self._setup_thread()
        try:
            return step_logits_encoded(self.model, batch, self.pad_token_id, self.device)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise _failure(exc) from exc

    def score_shared(
        self,
        batch: Sequence[EncodedPair],
        groups: Sequence[SharedGroup],
        row_passes: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),): each group's prefix computed once, the grouped rows in
        `row_passes` (None: one pass), the other rows whole.

        Raises BackendError on failure, and when this model cannot share prefixes (`shares_prefixes`)."""
        if groups and not self.shares_prefixes:
            raise BackendError(f"this model cannot share prefixes: {self.prefix_sharing_note}")
        self._setup_thread()
        scores = np.empty(len(batch), dtype=np.float32)
        grouped = [row for group in groups for row in group.rows]
        alone = sorted(set(range(len(batch))) - set(grouped))
        try:
            if grouped:
                scores[grouped] = score_groups(self.model, batch, groups, self.pad_token_id, self.device, row_passes)
            if alone:
                scores[alone] = score_encoded(self.model, [batch[i] for i in alone], self.pad_token_id, self.device)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise _failure(exc) from exc
        return scores

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _failure(exc: Exception) -> BackendError:
    message = "out of GPU memory" if "out of memory" in str(exc) else type(exc).__name__
    return BackendError(f"forward pass failed ({message})")
