"""A small open- and closed-loop HTTP driver that keeps every request's outcome, so that tests can check
each answer (its status, its scores against the reference, its Retry-After) and count lost ones.

Requests are POST bodies to one path (/v1/score unless told otherwise). Open loop: request i is sent at
start + i / rate, whatever the server's state (arrivals do not wait for answers), each on a pooled or new
connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Outcome:
    """One request's fate. `status` is None when the client got no HTTP answer (`error` says why)."""

    index: int
    status: int | None = None
    latency_s: float = 0.0
    body: Any = None
    retry_after: str | None = None
    server_total_ms: float | None = None  # the server's own x-total-time (200 answers only)
    server_queue_ms: float | None = None  # the server's x-queue-time (200 answers only)
    finished_at: float = 0.0  # time.perf_counter() when the answer (or the failure) came
    error: str | None = None


@dataclass
class LoadResult:
    outcomes: list[Outcome]
    elapsed_s: float
    statuses: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.statuses = Counter("no answer" if o.status is None else str(o.status) for o in self.outcomes)

    def latencies_s(self, status: int) -> list[float]:
        return [o.latency_s for o in self.outcomes if o.status == status]


def percentile_ms(values_s: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile in milliseconds (None for no samples)."""
    if not values_s:
        return None
    ordered = sorted(values_s)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000, 2)


async def _send(client: httpx.AsyncClient, index: int, body: dict[str, Any], path: str) -> Outcome:
    outcome = Outcome(index)
    started = time.perf_counter()
    try:
        response = await client.post(path, json=body)
        outcome.status = response.status_code
        outcome.retry_after = response.headers.get("retry-after")
        if "x-total-time" in response.headers:
            outcome.server_total_ms = float(response.headers["x-total-time"])
            outcome.server_queue_ms = float(response.headers["x-queue-time"])
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = response.text
    except httpx.HTTPError as exc:
        outcome.error = type(exc).__name__
    outcome.finished_at = time.perf_counter()
    outcome.latency_s = outcome.finished_at - started
    return outcome


def _client(url: str, timeout_s: float, max_connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits)


async def _open_loop(
    url: str, bodies: Sequence[dict[str, Any]], rate_rps: float, timeout_s: float, path: str
) -> LoadResult:
    async with _client(url, timeout_s, 1024) as client:
        started = time.perf_counter()
        tasks = []
        for index, body in enumerate(bodies):
            delay = started + index / rate_rps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the arrival schedule of the open loop
            tasks.append(asyncio.create_task(_send(client, index, body, path)))
        outcomes = await asyncio.gather(*tasks)
        return LoadResult(list(outcomes), time.perf_counter() - started)


async def _closed_loop(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int, timeout_s: float, path: str
) -> LoadResult:
    async with _client(url, timeout_s, concurrency) as client:
        next_index = iter(range(len(bodies)))
        outcomes: list[Outcome] = []

        async def user() -> None:
            for index in next_index:
                outcomes.append(await _send(client, index, bodies[index], path))

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        return LoadResult(sorted(outcomes, key=lambda o: o.index), time.perf_counter() - started)


def open_loop(
    url: str, bodies: Sequence[dict[str, Any]], rate_rps: float, timeout_s: float = 120.0, path: str = "/v1/score"
) -> LoadResult:
    """Send `bodies` at `rate_rps` (open loop) and wait for every answer (or the client timeout)."""
    return asyncio.run(_open_loop(url, bodies, rate_rps, timeout_s, path))


def closed_loop(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int, timeout_s: float = 120.0, path: str = "/v1/score"
) -> LoadResult:
    """Send `bodies` from `concurrency` clients, each sending its next as soon as its last was answered."""
    return asyncio.run(_closed_loop(url, bodies, concurrency, timeout_s, path))
