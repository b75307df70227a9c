"""The state of one running service: its phase, the loaded model, the batcher and the scorer.

Phases: loading -> ready -> draining (after SIGTERM), or loading -> failed. Readiness is also withdrawn
while a forward pass has run longer than the longest request may wait (a stalled backend) or while a
backend worker is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from service.batcher import DynamicBatcher
from service.metrics import Metrics
from service.model_loading import LoadedModel
from service.scorer import Scorer
from service.settings import Settings

Phase = Literal["loading", "ready", "draining", "failed"]


@dataclass
class ServiceState:
    """Mutated by the loader thread and by the signal handler; read by request handlers. Assignments of
    single attributes are atomic in CPython, and handlers read `scorer` once per request."""

    settings: Settings
    metrics: Metrics
    phase: Phase = "loading"
    model: LoadedModel | None = None
    batcher: DynamicBatcher | None = None
    scorer: Scorer | None = None
    failure: str | None = None
    on_fatal: Callable[[], None] | None = None
    loaded: threading.Event = field(default_factory=threading.Event)
    drain_started: float | None = None  # time.monotonic() of the first begin_drain

    def begin_drain(self) -> None:
        """Stop reporting ready and stop accepting scoring work; accepted requests still finish."""
        if self.phase in ("loading", "ready"):
            self.phase = "draining"
        if self.drain_started is None:
            self.drain_started = time.monotonic()
        if self.scorer is not None:
            self.scorer.draining = True
        self.metrics.ready.set(0)

    def drain_time_left_s(self) -> float:
        """What remains of the shutdown grace period, counted from the first begin_drain (the signal)."""
        started = self.drain_started if self.drain_started is not None else time.monotonic()
        return max(0.0, started + self.settings.shutdown_grace_s - time.monotonic())

    def not_ready_reason(self) -> str | None:
        """None when ready; otherwise why not."""
        if self.phase != "ready":
            return self.phase if self.failure is None else f"failed: {self.failure}"
        batcher = self.batcher
        if batcher is not None:
            if batcher.longest_pass_s() > self.settings.max_request_timeout_s:
                return "stalled: a forward pass has run longer than max_request_timeout_s"
            if batcher.alive_workers() < batcher.config.workers:
                return "a backend worker is missing"
        return None
