"""What an ideal server would show: the latency percentiles of a first-come-first-served queue, simulated.

The benchmark's p99 target at 70% of saturation is set against `max_wait_ms` plus three mean batch
passes. How far any server can meet it depends on the arrivals and on how much service times vary, not
only on the server: this module gives the p99 of an ideal server with no overhead at all (`workers`
identical workers, one queue, each request served alone in arrival order), with the measured mean pass
and the workload's own spread of lengths, so that a measured p99 can be read against it. A benchmark
point is a few seconds, so its p99 rests on its two or three slowest requests and misses most of the rare
long bursts of a Poisson stream that set the steady-state p99: `window_requests` measures the model the
same way (the median, over windows of that many requests, of each window's quantile).

Service times are taken proportional to each pair's token count and scaled so that their mean is the
measured mean pass (the forward pass of a transformer on a CPU is close to linear in tokens at these
lengths). Arrivals are a Poisson process (what the benchmark's open loop sends) or evenly spaced (what
wrk2 and vegeta send at a fixed rate).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Sequence
from typing import Literal

Arrivals = Literal["poisson", "uniform"]
ARRIVALS: tuple[Arrivals, ...] = ("poisson", "uniform")


def arrival_gap_s(rng: random.Random, rate_rps: float, arrivals: Arrivals) -> float:
    """Seconds from one arrival to the next at `rate_rps`: exponential (Poisson) or exactly 1 / rate."""
    return rng.expovariate(rate_rps) if arrivals == "poisson" else 1.0 / rate_rps


def service_times_s(token_counts: Sequence[int], mean_pass_s: float) -> list[float]:
    """Service times (seconds) proportional to `token_counts`, with mean `mean_pass_s`."""
    if not token_counts or mean_pass_s <= 0:
        raise ValueError("service_times_s needs token counts and a positive mean pass")
    mean_tokens = sum(token_counts) / len(token_counts)
    return [mean_pass_s * count / mean_tokens for count in token_counts]


def simulate_fifo_s(
    service_s: Sequence[float],
    workers: int,
    rate_rps: float,
    arrivals: Arrivals,
    requests: int = 200_000,
    seed: int = 0,
) -> list[float]:
    """Each request's time in system (wait + service, seconds), in arrival order, in a FIFO queue with
    `workers` identical workers, arrivals at `rate_rps`, and service times drawn (seeded) from `service_s`.

    Raises ValueError for an unstable queue (offered work at or over the workers' capacity)."""
    if workers < 1 or rate_rps <= 0 or not service_s or requests < 1:
        raise ValueError("simulate_fifo_s needs workers >= 1, a positive rate, service times and requests")
    offered = utilisation(service_s, workers, rate_rps)
    if offered >= 1:
        raise ValueError(f"the queue is unstable at utilisation {offered:.2f}")
    rng = random.Random(seed)
    free_at = [0.0] * workers  # a heap: when each worker is next free
    arrival_s = 0.0
    in_system_s: list[float] = []
    for _ in range(requests):
        arrival_s += arrival_gap_s(rng, rate_rps, arrivals)
        start_s = max(arrival_s, heapq.heappop(free_at))
        done_s = start_s + rng.choice(service_s)
        heapq.heappush(free_at, done_s)
        in_system_s.append(done_s - arrival_s)
    return in_system_s


def latency_quantile_s(
    in_system_s: Sequence[float], quantile: float = 0.99, window_requests: int | None = None
) -> float:
    """The nearest-rank `quantile` of `in_system_s` (as the load generator computes its percentiles): over
    all of them, or the median over consecutive windows of `window_requests` of each window's quantile."""
    if not in_system_s or not 0 < quantile < 1:
        raise ValueError("latency_quantile_s needs latencies and 0 < quantile < 1")
    if window_requests is None:
        return _nearest_rank(in_system_s, quantile)
    if not 1 <= window_requests <= len(in_system_s):
        raise ValueError("window_requests must be between 1 and the number of latencies")
    starts = range(0, len(in_system_s) - window_requests + 1, window_requests)
    return statistics.median(_nearest_rank(in_system_s[i : i + window_requests], quantile) for i in starts)


def utilisation(service_s: Sequence[float], workers: int, rate_rps: float) -> float:
    """Offered work per worker: rate x mean service time / workers (a queue is stable below 1)."""
    return rate_rps * (sum(service_s) / len(service_s)) / workers


def _nearest_rank(values: Sequence[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))]
