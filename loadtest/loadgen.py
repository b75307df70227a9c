"""A light HTTP load generator for one measurement point, run in its own process.

`python -m loadtest.loadgen --url URL --requests FILE --mode closed --concurrency 64 --duration-s 8`
prints one JSON object (see `PointResult`). It is an asyncio HTTP/1.1 client over keep-alive loopback
connections with the requests serialised once up front, so that it costs the machine little CPU (it
reports its own CPU seconds, to show it).

- closed loop: `concurrency` clients, each sending its next request as soon as the previous answered;
- open loop: requests arrive at `rate_rps` as a Poisson process (`arrivals="poisson"`) or evenly spaced
  (`"uniform"`, as wrk2 and vegeta send), whatever the server's state, each on an idle connection or a
  new one; latency runs from the scheduled arrival (no coordinated omission).

The first `warmup_s` seconds are not counted. The window then lasts `duration_s`, extended (up to
`max_extension_s`) until `min_requests` requests are counted. Counted requests are those that *complete*
in the window (closed loop) or are *scheduled* in it (open loop; their answers are awaited up to
`drain_timeout_s`). When a closed-loop window closes, requests still in flight are abandoned (their
connections closed, so the server drops their queued pairs) rather than awaited.
Optionally it probes GET /health `health_hz` times a second on a connection of its own, and reads the
server's CPU seconds (/proc/<server_pid>/stat) and /metrics at the window's edges, so that the server's
CPU per pair and its batching statistics cover exactly the counted window.

Requests file: JSON lines `{"path": "/v1/score", "body": {...}, "pairs": N}`, sent round-robin. A 200
answer is a success only when it holds the expected number of scores (`scores`, or `rewards` for
/get_reward); 429 and 503 are rejections; anything else, a broken connection or a timeout is a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest.queue_model import ARRIVALS, Arrivals, arrival_gap_s
from loadtest.server import REPO_ROOT, parse_metrics, process_cpu_s

_RESULT_KEYS = {"/get_reward": b"rewards"}
_MAX_OPEN_LOOP_CONNECTIONS = 2048


@dataclass(frozen=True)
class PreparedRequest:
    raw: bytes  # the whole HTTP/1.1 request
    pairs: int
    result_key: bytes | None  # JSON key whose list must hold `pairs` entries (None: not checked)


@dataclass
class PointResult:
    mode: str
    concurrency: int
    offered_rps: float | None
    arrivals: str | None  # open loop: "poisson" or "uniform"
    window_s: float
    requests_ok: int = 0
    pairs_ok: int = 0
    rejected: int = 0  # 429 / 503
    failed: int = 0  # other status, bad body, connection error, timeout
    failures: dict[str, int] = field(default_factory=dict)
    throughput_rps: float = 0.0
    throughput_pairs_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    health_latency_ms: dict[str, float] = field(default_factory=dict)
    loadgen_cpu_s: float = 0.0
    loadgen_cpu_share: float = 0.0  # of one core, over the window
    server_cpu_s: float | None = None
    server_metrics_delta: dict[str, float] = field(default_factory=dict)


def percentiles_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds (nearest-rank percentiles); empty dict for no samples."""
    if not latencies_s:
        return {}
    ordered = sorted(latencies_s)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    return {
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": ordered[-1] * 1000,
        "mean": sum(ordered) / len(ordered) * 1000,
        "n": float(len(ordered)),
    }


def prepare_requests(lines: Sequence[dict[str, Any]], host: str) -> list[PreparedRequest]:
    prepared = []
    for line in lines:
        path = line["path"]
        body = json.dumps(line["body"], ensure_ascii=False).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        key = _RESULT_KEYS.get(path, b"scores") if path != "/v1/gate" else None
        prepared.append(PreparedRequest(head + body, int(line["pairs"]), key))
    return prepared


class HttpError(Exception):
    """A response that could not be read (closed connection, malformed head)."""


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes, bool]:
        """(status, body, reusable) of the answer to `raw`."""
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpError("connection closed before the response head") from exc
        if not head.startswith(b"HTTP/1.1 ") or len(head) < 12:
            raise HttpError("malformed response head")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            body = await self._read_chunked()
        else:
            marker = lower.find(b"content-length:")
            if marker < 0:
                raise HttpError("response without a length")
            end = lower.find(b"\r\n", marker)
            body = await self.reader.readexactly(int(lower[marker + 15 : end]))
        return status, body, b"connection: close" not in lower

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await self.reader.readline()
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()

    def close(self) -> None:
        self.writer.close()


def _body_ok(request: PreparedRequest, body: bytes) -> bool:
    if request.result_key is None:
        return body.startswith(b"{")
    try:
        values = json.loads(body).get(request.result_key.decode())
    except (ValueError, AttributeError):
        return False
    return isinstance(values, list) and len(values) == request.pairs


class Recorder:
    """Outcomes of counted requests."""

    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.pairs_ok = 0
        self.rejected = 0
        self.failures: Counter[str] = Counter()

    def record(self, request: PreparedRequest, outcome: str, latency_s: float) -> None:
        if outcome == "ok":
            self.latencies_s.append(latency_s)
            self.pairs_ok += request.pairs
        elif outcome == "rejected":
            self.rejected += 1
        else:
            self.failures[outcome] += 1


async def _exchange(connection: Connection, request: PreparedRequest, timeout_s: float) -> tuple[str, bool]:
    """(outcome, connection still usable): outcome is ok, rejected, or a failure name."""
    try:
        status, body, reusable = await asyncio.wait_for(connection.send(request.raw), timeout_s)
    except TimeoutError:
        return "timeout", False
    except (HttpError, OSError, ValueError) as exc:
        return f"connection:{type(exc).__name__}", False
    if status == 200:
        return ("ok" if _body_ok(request, body) else "bad_body"), reusable
    if status in (429, 503):
        return "rejected", reusable
    return f"status:{status}", reusable


class Window:
    """The counted window: opens after the warm-up; the timer closes it once `duration_s` has passed and at
    least `min_requests` requests have been counted (so that a slow server still yields percentiles)."""

    def __init__(self, start: float, min_requests: int) -> None:
        self.start = start
        self.end = math.inf
        self.counted = 0
        self.min_requests = min_requests
        self.enough = asyncio.Event()
        if min_requests <= 0:
            self.enough.set()

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end

    def count(self) -> None:
        self.counted += 1
        if self.counted >= self.min_requests:
            self.enough.set()


class ServerProbe:
    """The server's CPU seconds and /metrics at the window's edges (when asked for)."""

    def __init__(self, host: str, port: int, server_pid: int | None, with_metrics: bool) -> None:
        self.host, self.port = host, port
        self.server_pid = server_pid
        self.with_metrics = with_metrics
        self.cpu_s: list[float] = []
        self.metrics: list[dict[str, float]] = []

    async def snapshot(self) -> None:
        if self.server_pid is not None:
            self.cpu_s.append(process_cpu_s(self.server_pid))
        if self.with_metrics:
            connection = await Connection.open(self.host, self.port)
            try:
                raw = f"GET /metrics HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
                _, body, _ = await connection.send(raw)
            finally:
                connection.close()
            self.metrics.append(parse_metrics(body.decode()))

    def fill(self, result: PointResult) -> None:
        if len(self.cpu_s) == 2:
            result.server_cpu_s = self.cpu_s[1] - self.cpu_s[0]
        if len(self.metrics) == 2:
            before, after = self.metrics
            result.server_metrics_delta = {
                name: value - before.get(name, 0.0) for name, value in after.items() if value != before.get(name, 0.0)
            }


async def _timed_window(
    probe: ServerProbe, window: Window, duration_s: float, max_extension_s: float, stop_event: asyncio.Event
) -> tuple[float, float, float]:
    """Sleep through the warm-up, snapshot, sleep through the window (extended, up to `max_extension_s`,
    until enough requests were counted), close it, snapshot. Returns (cpu0, cpu1) of this process and the
    window's length in seconds."""
    await asyncio.sleep(max(0.0, window.start - time.monotonic()))
    await probe.snapshot()
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, window.start + duration_s - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(window.enough.wait(), max_extension_s)
    window.end = time.monotonic()
    cpu1 = time.process_time()
    await probe.snapshot()
    stop_event.set()
    return cpu0, cpu1, window.end - window.start


async def _health_prober(host: str, port: int, hz: float, window: Window, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    connection = await Connection.open(host, port)
    raw = f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    period = 1.0 / hz
    try:
        while not stop.is_set():
            sent = time.monotonic()
            status, _, _ = await connection.send(raw)
            if status == 200 and window.holds(sent):
                latencies.append(time.monotonic() - sent)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - sent)))
    finally:
        connection.close()
    return latencies


async def run_point(
    url: str,
    requests: Sequence[PreparedRequest],
    mode: str,
    concurrency: int = 1,
    rate_rps: float = 0.0,
    arrivals: Arrivals = "poisson",
    warmup_s: float = 1.0,
    duration_s: float = 5.0,
    request_timeout_s: float = 60.0,
    drain_timeout_s: float = 30.0,
    health_hz: float = 0.0,
    server_pid: int | None = None,
    with_metrics: bool = False,
    seed: int = 0,
    min_requests: int = 0,
    max_extension_s: float = 60.0,
) -> PointResult:
    """Measure one point; see the module docstring."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    window = Window(time.monotonic() + warmup_s, min_requests)
    stop = asyncio.Event()
    recorder = Recorder()
    probe = ServerProbe(host, port, server_pid, with_metrics)
    health = asyncio.ensure_future(_health_prober(host, port, health_hz, window, stop)) if health_hz > 0 else None
    timer = asyncio.ensure_future(_timed_window(probe, window, duration_s, max_extension_s, stop))
    if mode == "closed":
        await _closed_loop(host, port, requests, concurrency, request_timeout_s, window, stop, recorder)
    else:
        await _open_loop(
            host, port, requests, rate_rps, arrivals, request_timeout_s, drain_timeout_s, window, stop, recorder, seed
        )
    cpu0, cpu1, window_s = await timer
    health_latencies = await health if health is not None else []
    n_ok = len(recorder.latencies_s)
    result = PointResult(
        mode=mode,
        concurrency=concurrency,
        offered_rps=rate_rps if mode == "open" else None,
        arrivals=arrivals if mode == "open" else None,
        window_s=window_s,
        requests_ok=n_ok,
        pairs_ok=recorder.pairs_ok,
        rejected=recorder.rejected,
        failed=sum(recorder.failures.values()),
        failures=dict(recorder.failures),
        throughput_rps=n_ok / window_s,
        throughput_pairs_per_s=recorder.pairs_ok / window_s,
        latency_ms=percentiles_ms(recorder.latencies_s),
        health_latency_ms=percentiles_ms(health_latencies),
        loadgen_cpu_s=cpu1 - cpu0,
        loadgen_cpu_share=(cpu1 - cpu0) / window_s,
    )
    probe.fill(result)
    return result


async def _closed_loop(
    host: str,
    port: int,
    requests: Sequence[PreparedRequest],
    concurrency: int,
    timeout_s: float,
    window: Window,
    stop: asyncio.Event,
    recorder: Recorder,
) -> None:
    """Each client sends its next request when the last is answered. When the window closes, the clients
    are cancelled and their connections closed: a request still in flight then is abandoned (the server
    drops its queued pairs), so that the next point starts on an empty queue without waiting for it."""

    async def client(index: int) -> None:
        connection: Connection | None = None
        position = index * max(1, len(requests) // max(1, concurrency))
        try:
            while not stop.is_set():
                request = requests[position % len(requests)]
                position += 1
                if connection is None:
                    try:
                        connection = await Connection.open(host, port)
                    except OSError as exc:
                        if window.holds(time.monotonic()):
                            recorder.record(request, f"connect:{type(exc).__name__}", 0.0)
                        continue
                sent = time.monotonic()
                outcome, reusable = await _exchange(connection, request, timeout_s)
                done = time.monotonic()
                if window.holds(done):
                    recorder.record(request, outcome, done - sent)
                    window.count()
                if not reusable:
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    clients = [asyncio.ensure_future(client(i)) for i in range(concurrency)]
    await stop.wait()
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)


async def _open_loop(
    host: str,
    port: int,
    requests: Sequence[PreparedRequest],
    rate_rps: float,
    arrivals: Arrivals,
    timeout_s: float,
    drain_timeout_s: float,
    window: Window,
    stop: asyncio.Event,
    recorder: Recorder,
    seed: int,
) -> None:
    rng = random.Random(seed)
    idle: list[Connection] = []
    open_count = 0
    in_flight: set[asyncio.Task[None]] = set()

    async def one(request: PreparedRequest, scheduled: float, counted: bool) -> None:
        nonlocal open_count
        # An idle connection the server has closed meanwhile (its keep-alive timeout) is dropped, not used:
        # a request sent on it would fail without the server ever reading it.
        while idle and idle[-1].reader.at_eof():
            idle.pop().close()
            open_count -= 1
        if idle:
            connection = idle.pop()
        elif open_count >= _MAX_OPEN_LOOP_CONNECTIONS:
            if counted:
                recorder.record(request, "client_connection_cap", 0.0)
            return
        else:
            open_count += 1
            try:
                connection = await Connection.open(host, port)
            except OSError as exc:
                open_count -= 1
                if counted:
                    recorder.record(request, f"connect:{type(exc).__name__}", 0.0)
                return
        outcome, reusable = await _exchange(connection, request, timeout_s)
        if counted:
            recorder.record(request, outcome, time.monotonic() - scheduled)
        if reusable:
            idle.append(connection)
        else:
            connection.close()
            open_count -= 1

    position = 0
    next_at = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if stop.is_set():
            break
        request = requests[position % len(requests)]
        position += 1
        counted = window.holds(next_at)
        if counted:
            window.count()
        task = asyncio.ensure_future(one(request, next_at, counted))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        next_at += arrival_gap_s(rng, rate_rps, arrivals)
    if in_flight:
        _, pending = await asyncio.wait(set(in_flight), timeout=drain_timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            recorder.failures["not_answered_by_drain_timeout"] += len(pending)
    for connection in idle:
        connection.close()


def measure_point(
    url: str,
    requests_file: Path,
    *,
    server_pid: int | None = None,
    metrics: bool = True,
    **options: float | int | str,
) -> dict[str, Any]:
    """Run this module in its own process for one point and return its result (a `PointResult` as a dict).

    `options` are the command-line options by their Python names (mode="closed", concurrency=64,
    warmup_s=1.0, duration_s=5.0, min_requests=20, ...). Raises RuntimeError when the run fails.
    """
    command = [sys.executable, "-m", "loadtest.loadgen", "--url", url, "--requests", str(requests_file)]
    if server_pid is not None:
        command += ["--server-pid", str(server_pid)]
    if metrics:
        command.append("--metrics")
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def load_requests(path: Path, host: str) -> list[PreparedRequest]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return prepare_requests(lines, host)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=Path, required=True, help="JSON lines {path, body, pairs}")
    parser.add_argument("--mode", choices=["closed", "open"], default="closed")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate-rps", type=float, default=0.0)
    parser.add_argument("--arrivals", choices=ARRIVALS, default="poisson", help="open loop: Poisson or evenly spaced")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--request-timeout-s", type=float, default=60.0)
    parser.add_argument("--drain-timeout-s", type=float, default=30.0)
    parser.add_argument("--health-hz", type=float, default=0.0)
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--metrics", action="store_true", help="read /metrics at the window's edges")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-requests", type=int, default=0, help="extend the window until this many counted")
    parser.add_argument("--max-extension-s", type=float, default=60.0, help="longest extension of the window")
    args = parser.parse_args(argv)
    if args.mode == "open" and args.rate_rps <= 0:
        parser.error("--mode open needs --rate-rps > 0")
    host = urlsplit(args.url).hostname or "127.0.0.1"
    requests = load_requests(args.requests, host)
    result = asyncio.run(
        run_point(
            args.url,
            requests,
            args.mode,
            concurrency=args.concurrency,
            rate_rps=args.rate_rps,
            arrivals=args.arrivals,
            warmup_s=args.warmup_s,
            duration_s=args.duration_s,
            request_timeout_s=args.request_timeout_s,
            drain_timeout_s=args.drain_timeout_s,
            health_hz=args.health_hz,
            server_pid=args.server_pid,
            with_metrics=args.metrics,
            seed=args.seed,
            min_requests=args.min_requests,
            max_extension_s=args.max_extension_s,
        )
    )
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
