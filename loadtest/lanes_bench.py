"""Priority lanes on the real model: /v1/gate latency beside a bulk load that saturates the server.

One server (the embedded default model unless `--model`), one run. A bulk load of `--bulk-clients`
closed-loop clients, each sending `--pairs` HH-RLHF pairs per /v1/score request (the bulk lane by the
route's default), keeps the server saturated throughout. In each of `--windows` windows of `--seconds`,
two open-loop gate streams of `--gate-rps` requests per second run side by side:

- lanes on: `{"priority": "interactive"}`, the gate's own default;
- lanes off: `{"priority": "bulk"}`, i.e. in the same FIFO as the bulk load, which is where every gate
  request waits on a server without lanes (`RMSERVE_LANES=false`), measured under the same load and the
  same noise of a shared machine.

Reported (medians over the windows): each stream's p50/p99 latency, their ratio, the forward pass of one
gate pair on the idle server (median x-inference-time of sequential gates before the load), and the
longest bulk batch in flight: the p99 of the server's forward passes during the load (an upper bucket
bound of `rmserve_forward_seconds`). The issue's target: lanes-on p99 <= longest batch + 3 single
passes, and >= 5x better than lanes off.

    .venv/bin/python -m loadtest.lanes_bench --seconds 20 --windows 3 --out reports/lanes.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadtest.server import RunningServer, start_server
from loadtest.workload import Pair, gate_body, hh_pairs, score_body

STREAMS = {"lanes_on": "interactive", "lanes_off": "bulk"}


@dataclass
class Samples:
    """Answers of one stream: client latency of the 200s, and where the server says their time went."""

    latencies_s: list[float] = field(default_factory=list)
    server_s: dict[str, list[float]] = field(default_factory=dict)  # x-queue-time etc., in seconds
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int, latency_s: float, headers: httpx.Headers | None = None) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.latencies_s.append(latency_s)
            for name in ("x-tokenization-time", "x-queue-time", "x-inference-time", "x-total-time"):
                if headers is not None and name in headers:
                    self.server_s.setdefault(name, []).append(float(headers[name]) / 1000)


def percentile_ms(values_s: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile in milliseconds (None without samples: every request was refused)."""
    if not values_s:
        return None
    ordered = sorted(values_s)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000, 1)


def histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding quantile `q` of a cumulative Prometheus histogram."""
    total = buckets[math.inf]
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return math.inf


def forward_buckets(server: RunningServer) -> dict[float, float]:
    buckets = {}
    for name, value in server.metrics().items():
        if name.startswith("rmserve_forward_seconds_bucket{"):
            bound = name.split('le="')[1].split('"')[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = value
    return buckets


async def single_pass_s(client: httpx.AsyncClient, pairs: Sequence[Pair], count: int) -> float:
    """Median x-inference-time of `count` sequential gate requests on the idle server."""
    times = []
    for prompt, response in pairs[:count]:
        answer = await client.post("/v1/gate", json=gate_body(prompt, response))
        answer.raise_for_status()
        times.append(float(answer.headers["x-inference-time"]) / 1000)
    return statistics.median(times)


async def bulk_client(
    client: httpx.AsyncClient, bodies: list[dict[str, Any]], stop: asyncio.Event, out: Samples
) -> None:
    index = 0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            answer = await client.post("/v1/score", json=bodies[index % len(bodies)])
        except httpx.HTTPError:
            out.add(0, time.perf_counter() - started)  # status 0: no answer
            continue
        out.add(answer.status_code, time.perf_counter() - started)
        if answer.status_code != 200:
            # The refusal's own advice, cut short when the run ends.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), float(answer.headers.get("retry-after", "1")))
        index += 1


async def gate_window(
    clients: dict[str, httpx.AsyncClient], pairs: Sequence[Pair], rate: float, seconds: float
) -> dict[str, Samples]:
    samples = {name: Samples() for name in STREAMS}

    async def one(name: str, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            answer = await clients[name].post("/v1/gate", json=body)
        except httpx.HTTPError:
            samples[name].add(0, time.perf_counter() - started)
            return
        samples[name].add(answer.status_code, time.perf_counter() - started, answer.headers)

    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the open loop's arrival schedule
        prompt, response = pairs[i % len(pairs)]
        for name, priority in STREAMS.items():
            tasks.append(asyncio.create_task(one(name, {**gate_body(prompt, response), "priority": priority})))
    await asyncio.gather(*tasks)
    return samples


async def run(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    pairs = hh_pairs(args.bulk_clients * args.pairs * 2, seed=3)
    bulk_bodies = [
        score_body(pairs.pairs[i * args.pairs : (i + 1) * args.pairs]) for i in range(len(pairs.pairs) // args.pairs)
    ]
    gate_pairs = hh_pairs(200, seed=11).pairs
    # One connection pool per stream, none of them bounded: a shared pool let the lanes-off gates (each
    # waiting seconds in the bulk FIFO, so dozens in flight) hold every connection, and the lanes-on gates
    # then queued in the client for a free one, which the server's lanes cannot help.
    unbounded = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with contextlib.AsyncExitStack() as stack:
        client, *gate_clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=120.0, limits=unbounded))
            for _ in range(1 + len(STREAMS))
        ]
        streams = dict(zip(STREAMS, gate_clients, strict=True))
        single_s = await single_pass_s(client, gate_pairs, 20)
        stop = asyncio.Event()
        bulk = Samples()
        bulk_tasks = [
            asyncio.create_task(bulk_client(client, bulk_bodies[c :: args.bulk_clients], stop, bulk))
            for c in range(args.bulk_clients)
        ]
        await asyncio.sleep(args.warmup_s)  # let the bulk load fill the queue before measuring
        forward_before = forward_buckets(server)
        windows: list[dict[str, Any]] = []
        p99_ms: dict[str, list[float]] = {name: [] for name in STREAMS}
        for _ in range(args.windows):
            samples = await gate_window(streams, gate_pairs, args.gate_rps, args.seconds)
            window: dict[str, Any] = {}
            for name, s in samples.items():
                p99 = percentile_ms(s.latencies_s, 0.99)
                if p99 is not None:
                    p99_ms[name].append(p99)
                window[name] = {
                    "p50_ms": percentile_ms(s.latencies_s, 0.5),
                    "p99_ms": p99,
                    "statuses": s.statuses,
                    "server_p50_ms": {k: percentile_ms(v, 0.5) for k, v in s.server_s.items()},
                    "server_p99_ms": {k: percentile_ms(v, 0.99) for k, v in s.server_s.items()},
                }
            windows.append(window)
            print(json.dumps(window), file=sys.stderr, flush=True)
        forward_after = forward_buckets(server)
        waits = server.metrics()
        stop.set()
        await asyncio.gather(*bulk_tasks)
    forward = {bound: forward_after[bound] - forward_before.get(bound, 0.0) for bound in forward_after}
    longest_batch_s = histogram_quantile(forward, 0.99)
    on_p99 = statistics.median(p99_ms["lanes_on"]) if p99_ms["lanes_on"] else math.nan
    off_p99 = statistics.median(p99_ms["lanes_off"]) if p99_ms["lanes_off"] else math.nan
    bound_ms = (longest_batch_s + 3 * single_s) * 1000
    honesty = {}
    for lane in ("interactive", "bulk"):
        predicted = waits.get(f'rmserve_admission_predicted_wait_seconds_sum{{lane="{lane}"}}', 0.0)
        actual = waits.get(f'rmserve_admission_actual_wait_seconds_sum{{lane="{lane}"}}', 0.0)
        honesty[lane] = {"actual_over_predicted_wait": round(actual / predicted, 2) if predicted else None}
    return {
        "pairs": pairs.source,
        "bulk_clients": args.bulk_clients,
        "pairs_per_bulk_request": args.pairs,
        "gate_rps_per_stream": args.gate_rps,
        "windows": windows,
        "bulk_statuses": bulk.statuses,
        "bulk_p50_ms": percentile_ms(bulk.latencies_s, 0.5),
        "admission_estimate": honesty,
        "single_gate_pass_ms": round(single_s * 1000, 2),
        "forward_p99_upper_bound_ms": round(longest_batch_s * 1000, 1),
        "lanes_on_p99_ms_median": on_p99,
        "lanes_off_p99_ms_median": off_p99,
        "lanes_off_over_on_p99": round(off_p99 / on_p99, 1),
        "target_bound_ms": round(bound_ms, 1),
        "lanes_on_p99_within_bound": on_p99 <= bound_ms,
        "lanes_on_p99_in_single_passes": round(on_p99 / (single_s * 1000), 1),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the embedded default)")
    parser.add_argument("--bulk-clients", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=16, help="HH pairs per bulk request")
    parser.add_argument("--gate-rps", type=float, default=5.0, help="gate requests per second, per stream")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one measured window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=10.0, help="bulk load before the first window")
    parser.add_argument("--setting", action="append", default=[], help="NAME=VALUE server setting (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("reports/lanes_bench.json"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {f"RMSERVE_{name.upper()}": value for name, _, value in (s.partition("=") for s in args.setting)}
    command = ".venv/bin/python -m loadtest.lanes_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    with start_server(args.model, settings) as server:
        summary = {
            "command": command,
            "model": str(args.model or "embedded default"),
            "served": server.served(),
            **asyncio.run(run(server, args)),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
