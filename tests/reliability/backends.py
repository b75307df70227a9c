"""Backends for the reliability tests, built inside the real server process via `RMSERVE_BACKEND_FACTORY`.

Each one scores with `tests.service.fault_backends.reference_score` (a function of the token ids alone),
so a test can check every answer without a model. Their knobs come from environment variables set by the
test that starts the server:

- `slow_backend`: every forward pass sleeps `RELIABILITY_PASS_MS` milliseconds, whatever its size, plus
  `RELIABILITY_PAIR_MS` (default 0) per pair. With `max_batch_size=1` and `workers=W` the saturation rate
  is known: W * 1000 / (RELIABILITY_PASS_MS + RELIABILITY_PAIR_MS) requests per second, independent of how
  busy the machine's CPUs are (the pass sleeps, it does not compute); with a per-pair cost, batching
  does not change the drain rate either.
- `poisoned_backend`: a pass holding a pair of exactly `RELIABILITY_POISON_TOKENS` tokens raises
  `BackendError`; one holding a pair of exactly `RELIABILITY_KILL_TOKENS` tokens raises `WorkerKill`, a
  BaseException that the batcher's per-batch `except Exception` does not catch, so it kills the worker
  thread (the way a SystemExit or a C-extension-raised KeyboardInterrupt would).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from models.folder import ModelFolder
from models.formatting import EncodedPair
from service.backends.base import BackendError
from service.settings import Settings
from tests.service.fault_backends import FakeBackend, reference_score

PASS_MS_ENV = "RELIABILITY_PASS_MS"
PAIR_MS_ENV = "RELIABILITY_PAIR_MS"
POISON_TOKENS_ENV = "RELIABILITY_POISON_TOKENS"
KILL_TOKENS_ENV = "RELIABILITY_KILL_TOKENS"


def reference_scores(batch: Sequence[EncodedPair]) -> np.ndarray:
    """`reference_score` of every pair. Unlike `FakeBackend.score` it keeps no history of the batches, so
    a long-running server's memory stays flat."""
    return np.array([reference_score(pair) for pair in batch], dtype=np.float32)


class WorkerKill(BaseException):
    """Escapes every `except Exception`: what kills a worker thread."""


class SlowBackend(FakeBackend):
    """Each pass sleeps `pass_s` seconds plus `pair_s` per pair, then scores with `reference_score`."""

    def __init__(self, pass_s: float, pair_s: float = 0.0) -> None:
        super().__init__()
        self.pass_s = pass_s
        self.pair_s = pair_s

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        time.sleep(self.pass_s + self.pair_s * len(batch))  # the simulated forward pass
        return reference_scores(batch)


class PoisonedBackend(FakeBackend):
    """Fails (BackendError) or dies (WorkerKill) on passes that hold a pair of a chosen token count."""

    def __init__(self, poison_tokens: int, kill_tokens: int) -> None:
        super().__init__()
        self.poison_tokens = poison_tokens
        self.kill_tokens = kill_tokens

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        lengths = {pair.num_tokens for pair in batch}
        if self.kill_tokens in lengths:
            raise WorkerKill("injected worker death")
        if self.poison_tokens in lengths:
            raise BackendError("injected failure")
        return reference_scores(batch)


def slow_backend(folder: ModelFolder, settings: Settings) -> SlowBackend:
    """backend_factory: a SlowBackend whose passes take $RELIABILITY_PASS_MS milliseconds plus
    $RELIABILITY_PAIR_MS per pair."""
    return SlowBackend(float(os.environ[PASS_MS_ENV]) / 1000.0, float(os.environ.get(PAIR_MS_ENV, "0")) / 1000.0)


def poisoned_backend(folder: ModelFolder, settings: Settings) -> PoisonedBackend:
    """backend_factory: a PoisonedBackend on $RELIABILITY_POISON_TOKENS and $RELIABILITY_KILL_TOKENS."""
    return PoisonedBackend(int(os.environ[POISON_TOKENS_ENV]), int(os.environ[KILL_TOKENS_ENV]))
