"""Backends that stall or fail on purpose, for fault tests (in-process and in a real server process).

They score a pair deterministically from its token ids (`reference_score`), so tests can check every
answer without a model. `gated_backend` is a `backend_factory` for `RMSERVE_BACKEND_FACTORY`: its passes
stall while the file named by `$FAULT_BACKEND_GATE_FILE` exists.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.folder import ModelFolder
from models.formatting import EncodedPair
from service.backends.base import BackendError
from service.settings import Settings

GATE_FILE_ENV = "FAULT_BACKEND_GATE_FILE"


def reference_score(pair: EncodedPair) -> float:
    """The fake model: a function of the ids alone (so batch-independent by construction)."""
    return float(sum(pair.input_ids) % 1000) / 100.0 - 5.0


class FakeBackend:
    """Scores with `reference_score`; records the batches it ran. Thread-safe."""

    name = "fake"
    device = "cpu"
    dtype = "fp32"

    def __init__(self) -> None:
        self.batches: list[list[EncodedPair]] = []
        self._lock = threading.Lock()

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        with self._lock:
            self.batches.append(list(batch))
        return np.array([reference_score(p) for p in batch], dtype=np.float32)

    def close(self) -> None:
        pass


class BlockingBackend(FakeBackend):
    """Blocks every pass while `gate` is clear; `entered` counts passes that have started."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = 0
        self.entered_changed = threading.Condition()

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        with self.entered_changed:
            self.entered += 1
            self.entered_changed.notify_all()
        self.gate.wait()
        return super().score(batch)

    def wait_entered(self, count: int, timeout_s: float = 30.0) -> None:
        with self.entered_changed:
            if not self.entered_changed.wait_for(lambda: self.entered >= count, timeout_s):
                raise TimeoutError(f"only {self.entered} of {count} passes started")


class FailingBackend(FakeBackend):
    """Raises BackendError on any batch holding a pair of exactly `poison_tokens` tokens."""

    def __init__(self, poison_tokens: int) -> None:
        super().__init__()
        self.poison_tokens = poison_tokens

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        if any(p.num_tokens == self.poison_tokens for p in batch):
            raise BackendError("injected failure")
        return super().score(batch)


class GatedFileBackend(FakeBackend):
    """Stalls each pass while `gate_file` exists (polled every 5 ms); for a real server process."""

    def __init__(self, gate_file: Path) -> None:
        super().__init__()
        self.gate_file = gate_file

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        while self.gate_file.exists():
            time.sleep(0.005)
        return super().score(batch)


def gated_backend(folder: ModelFolder, settings: Settings) -> GatedFileBackend:
    """backend_factory: a GatedFileBackend on the file named by $FAULT_BACKEND_GATE_FILE."""
    return GatedFileBackend(Path(os.environ[GATE_FILE_ENV]))
