"""Prometheus metrics of one app (its own registry, so that several apps can live in one test process).

Besides the usual traffic metrics it watches the rewards themselves: their distribution, the share of
truncated pairs, and a running correlation between reward and response length (an RL policy that learns
to pad its answers shows up there first).

Thread-safety: prometheus_client metrics are thread-safe; the running correlation has its own lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Finer than the latency buckets between 50 ms and 2 s, where CPU batches fall: the longest batch in flight
# bounds how long an interactive pair waits (loadtest/lanes_bench.py reads it from here).
_FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_REWARD_BUCKETS = (-10.0, -5.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
CORRELATION_HALF_LIFE_ITEMS = 5000


class RunningCorrelation:
    """Pearson correlation of (x, y) with exponentially decaying weights (half-life in items)."""

    def __init__(self, half_life_items: int = CORRELATION_HALF_LIFE_ITEMS) -> None:
        self._decay = 0.5 ** (1.0 / half_life_items)
        self._lock = threading.Lock()
        self._w = self._sx = self._sy = self._sxx = self._syy = self._sxy = 0.0

    def add(self, x: float, y: float) -> None:
        with self._lock:
            d = self._decay
            self._w = self._w * d + 1.0
            self._sx = self._sx * d + x
            self._sy = self._sy * d + y
            self._sxx = self._sxx * d + x * x
            self._syy = self._syy * d + y * y
            self._sxy = self._sxy * d + x * y

    def value(self) -> float:
        """The correlation in [-1, 1]; 0 until both variables vary."""
        with self._lock:
            if self._w < 2:
                return 0.0
            mx, my = self._sx / self._w, self._sy / self._w
            vx = self._sxx / self._w - mx * mx
            vy = self._syy / self._w - my * my
            if vx <= 1e-12 or vy <= 1e-12:
                return 0.0
            return max(-1.0, min(1.0, (self._sxy / self._w - mx * my) / math.sqrt(vx * vy)))


class Metrics:
    """All metrics of the service; implements the batcher's and the scorer's observer protocols."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rmserve_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.request_latency = Histogram(
            "rmserve_request_duration_seconds", "HTTP request latency", ["route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.queue_items = Gauge("rmserve_queue_items", "pairs waiting in the batcher queue (all lanes)", registry=r)
        self.queue_tokens = Gauge("rmserve_queue_tokens", "tokens waiting in the batcher queue (all lanes)", registry=r)
        self.lane_queue_items = Gauge("rmserve_lane_queue_items", "pairs waiting in one lane", ["lane"], registry=r)
        self.lane_queue_tokens = Gauge("rmserve_lane_queue_tokens", "tokens waiting in one lane", ["lane"], registry=r)
        self.queue_wait = Histogram(
            "rmserve_queue_wait_seconds",
            "time a pair waited before its batch ran",
            ["lane"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predicted_wait = Histogram(
            "rmserve_admission_predicted_wait_seconds",
            "admitted requests: the queue wait admission predicted (work ahead over the drain rate)",
            ["lane"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.actual_wait = Histogram(
            "rmserve_admission_actual_wait_seconds",
            "the same requests: their actual queue wait (their slowest pair's); compare the sums with the above",
            ["lane"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.body_bytes_held = Gauge(
            "rmserve_request_body_bytes_held",
            "bytes of request bodies held by requests in progress (limit: max_inflight_body_bytes)",
            registry=r,
        )
        self.drain_rate = Gauge(
            "rmserve_drain_tokens_per_second",
            "measured drain rate (real tokens/s) that admission divides the work ahead by",
            registry=r,
        )
        self.batch_size = Histogram("rmserve_batch_size", "pairs per forward pass", buckets=_SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram(
            "rmserve_batch_tokens",
            "padded tokens (rows x longest) per forward pass",
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.padding_ratio = Histogram(
            "rmserve_batch_padding_ratio",
            "share of a batch's padded tokens that are padding",
            buckets=_RATIO_BUCKETS,
            registry=r,
        )
        self.forward_time = Histogram(
            "rmserve_forward_seconds", "time of one forward pass", buckets=_FORWARD_BUCKETS, registry=r
        )
        self.tokens = Counter(
            "rmserve_tokens", "real (unpadded) tokens scored; rate() gives tokens per second", registry=r
        )
        self.tokens_per_second = Gauge(
            "rmserve_forward_tokens_per_second", "real tokens per second of the latest forward pass", registry=r
        )
        self.rejections = Counter(
            "rmserve_rejections",
            "pairs refused or dropped, by reason (queue_full, deadline_unreachable, deadline, cancelled) and lane",
            ["reason", "lane"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "rmserve_worker_restarts", "backend worker threads that died and were replaced", registry=r
        )
        self.rewards = Histogram("rmserve_reward", "raw rewards returned", buckets=_REWARD_BUCKETS, registry=r)
        self.scored_items = Counter("rmserve_scored_items", "pairs scored", registry=r)
        self.truncated_items = Counter("rmserve_truncated_items", "pairs scored after truncation", registry=r)
        self.truncation_rate = Gauge("rmserve_truncation_rate", "share of scored pairs that were truncated", registry=r)
        self.reward_length_correlation = Gauge(
            "rmserve_reward_length_correlation",
            f"running Pearson correlation of reward and response length in characters "
            f"(half-life {CORRELATION_HALF_LIFE_ITEMS} pairs)",
            registry=r,
        )
        self.prompt_tokens_computed = Counter(
            "rmserve_prompt_tokens_computed",
            "prompt tokens the forward passes computed (a shared group's prefix once; a pair scored alone its "
            "whole prompt, when the request gave prompt and response apart)",
            registry=r,
        )
        self.prompt_tokens_saved = Counter(
            "rmserve_prompt_tokens_saved",
            "leading tokens not computed again because pairs that begin with them were scored as one group "
            "(the shared prompt, and any response tokens the group has in common)",
            registry=r,
        )
        self.shared_items = Counter(
            "rmserve_shared_prefix_items", "pairs scored as part of a group that shared its prefix pass", registry=r
        )
        self.busy_workers = Gauge("rmserve_busy_workers", "backend workers inside a forward pass", registry=r)
        self.ready = Gauge(
            "rmserve_ready", "1 when the model is loaded and warmed and the server is not draining", registry=r
        )
        self._correlation = RunningCorrelation()
        self._counts_lock = threading.Lock()
        self._scored = 0
        self._truncated = 0
        self._lane_counts: dict[str, tuple[int, int]] = {}

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # ---- BatchObserver

    def on_queue(self, lane: str, items: int, tokens: int) -> None:
        self.lane_queue_items.labels(lane=lane).set(items)
        self.lane_queue_tokens.labels(lane=lane).set(tokens)
        with self._counts_lock:
            self._lane_counts[lane] = (items, tokens)
            total_items = sum(n for n, _ in self._lane_counts.values())
            total_tokens = sum(t for _, t in self._lane_counts.values())
        self.queue_items.set(total_items)
        self.queue_tokens.set(total_tokens)

    def on_batch(
        self, lane: str, size: int, real_tokens: int, padded_tokens: int, forward_s: float, waits_s: list[float]
    ) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(padded_tokens)
        self.padding_ratio.observe(1.0 - real_tokens / padded_tokens if padded_tokens else 0.0)
        self.forward_time.observe(forward_s)
        self.tokens.inc(real_tokens)
        if forward_s > 0:
            self.tokens_per_second.set(real_tokens / forward_s)
        queue_wait = self.queue_wait.labels(lane=lane)
        for wait in waits_s:
            queue_wait.observe(wait)

    def on_dropped(self, reason: str, count: int, lane: str) -> None:
        self.rejections.labels(reason=reason, lane=lane).inc(count)

    def on_worker_restart(self) -> None:
        self.worker_restarts.inc()

    def on_prompt_tokens(self, computed: int, saved: int, shared_pairs: int) -> None:
        self.prompt_tokens_computed.inc(computed)
        self.prompt_tokens_saved.inc(saved)
        self.shared_items.inc(shared_pairs)

    # ---- ScoreObserver

    def on_waited(self, lane: str, predicted_s: float, actual_s: float) -> None:
        self.predicted_wait.labels(lane=lane).observe(predicted_s)
        self.actual_wait.labels(lane=lane).observe(actual_s)

    def on_scored(self, scores: Sequence[float], response_chars: Sequence[int], truncated: Sequence[bool]) -> None:
        for score, chars in zip(scores, response_chars, strict=True):
            self.rewards.observe(score)
            self._correlation.add(float(chars), score)
        n_truncated = sum(truncated)
        self.scored_items.inc(len(scores))
        self.truncated_items.inc(n_truncated)
        with self._counts_lock:
            self._scored += len(scores)
            self._truncated += n_truncated
            rate = self._truncated / self._scored if self._scored else 0.0
        self.truncation_rate.set(rate)
        self.reward_length_correlation.set(self._correlation.value())
