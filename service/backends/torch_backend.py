"""The torch backend: a Hugging Face sequence-classification reward model on CPU or CUDA (imports torch).

fp32, fp16 and bf16; SDPA attention where the architecture supports it (the loader falls back to the
default attention otherwise). Pairs are right-padded with `models.batching.pad_batch`, so a pair's score
does not depend on the batch it runs in.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.folder import ModelFolder
from models.formatting import EncodedPair
from models.torch_model import DType, load_torch_reward_model, score_encoded
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
    ) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device} requested but torch sees no CUDA device")
        if device == "cpu" and dtype == "fp16":
            raise BackendError("fp16 on the CPU is slow and inexact in torch; use fp32 or bf16")
        self.device = device
        self.dtype: str = dtype
        self.pad_token_id = pad_token_id
        self.threads_per_worker = threads_per_worker
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
        )

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw rewards, float32, shape (len(batch),). Raises BackendError on failure."""
        if not getattr(self._thread_setup, "done", False):
            # The intra-op thread count is per calling thread under OpenMP; set it once per worker.
            torch.set_num_threads(self.threads_per_worker)
            self._thread_setup.done = True
        try:
            return score_encoded(self.model, batch, self.pad_token_id, self.device)
        except (RuntimeError, ValueError, IndexError) as exc:
            message = "out of GPU memory" if "out of memory" in str(exc) else type(exc).__name__
            raise BackendError(f"forward pass failed ({message})") from exc

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
