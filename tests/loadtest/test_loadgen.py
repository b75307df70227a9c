"""The load generator's client and bookkeeping against a small in-process HTTP server that answers in
the ways a real one may (content-length or chunked bodies, 503 rejections, wrong bodies), and its
helpers: percentiles, Prometheus text, /proc CPU time."""

from __future__ import annotations

import asyncio
import json
import os
import time

from loadtest.loadgen import PointResult, percentiles_ms, prepare_requests, run_point
from loadtest.queue_model import Arrivals
from loadtest.server import parse_metrics, process_cpu_s


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers by path: /ok (content-length), /chunked, /busy (503), /short (one score too few)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ")[1].decode()
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            pairs = len(json.loads(await reader.readexactly(length))["items"]) if length else 0
            scores = [0.5] * (pairs - 1 if path == "/short" else pairs)
            body = json.dumps({"scores": scores}).encode()
            if path == "/chunked":
                chunks = b"".join(
                    b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)
                )
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            elif path == "/busy":
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nRetry-After: 1\r\n\r\n{}")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _measure(path: str, mode: str, arrivals: Arrivals = "poisson", duration_s: float = 0.2) -> PointResult:
    async def scenario() -> PointResult:
        server = await asyncio.start_server(_serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        line = {"path": path, "body": {"items": [{"prompt": "p", "response": "r"}] * 3}, "pairs": 3}
        requests = prepare_requests([line], "127.0.0.1")
        async with server:
            return await run_point(
                f"http://127.0.0.1:{port}", requests, mode, concurrency=3, rate_rps=300.0, warmup_s=0.05,
                duration_s=duration_s, min_requests=20, health_hz=0, arrivals=arrivals,
            )  # fmt: skip

    return asyncio.run(scenario())


def test_closed_loop_counts_successes_pairs_and_cpu() -> None:
    for path in ("/ok", "/chunked"):
        result = _measure(path, "closed")
        assert result.failed == 0 and result.rejected == 0
        assert result.requests_ok >= 20  # the window is extended until min_requests were counted
        assert result.pairs_ok == 3 * result.requests_ok
        assert result.throughput_pairs_per_s == result.pairs_ok / result.window_s
        assert result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]
        assert result.loadgen_cpu_s >= 0


def test_rejections_and_wrong_bodies_are_told_apart() -> None:
    busy = _measure("/busy", "closed")
    assert busy.rejected >= 20 and busy.requests_ok == 0 and busy.failed == 0
    short = _measure("/short", "open")
    assert short.requests_ok == 0 and short.failures.get("bad_body", 0) == short.failed >= 20
    assert short.offered_rps == 300.0


def test_open_loop_sends_evenly_spaced_arrivals_at_the_rate() -> None:
    # 300 requests/s evenly spaced: the window counts the arrivals scheduled in it, so its count is the rate
    # times its length to within a request or two at each edge (a Poisson stream of ~150 strays by about 12).
    result = _measure("/ok", "open", arrivals="uniform", duration_s=0.5)
    assert result.arrivals == "uniform" and result.failed == 0
    assert abs(result.requests_ok - 300.0 * result.window_s) <= 3


def test_percentiles_are_nearest_rank_in_ms() -> None:
    figures = percentiles_ms([i / 1000 for i in range(1, 101)])
    assert (figures["p50"], figures["p95"], figures["p99"], figures["max"]) == (50.0, 95.0, 99.0, 100.0)
    assert percentiles_ms([]) == {}


def test_prometheus_text_and_proc_cpu() -> None:
    text = '# HELP x\n# TYPE x counter\nrmserve_tokens_total 42.0\nrmserve_rejections_total{reason="queue_full"} 3.0\n'
    assert parse_metrics(text) == {"rmserve_tokens_total": 42.0, 'rmserve_rejections_total{reason="queue_full"}': 3.0}
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn a little CPU so that /proc has ticks to show
        pass
    assert abs(process_cpu_s(os.getpid()) - time.process_time()) < 0.5
