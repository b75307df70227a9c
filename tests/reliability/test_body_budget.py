"""Memory across connections: 64 clients each uploading a body near the cap, against the real server.

Each client opens its own connection, declares a Content-Length just under `max_body_bytes`, and sends
the headers with the first KiB of its body. The server may hold `max_inflight_body_bytes` of bodies at
once: exactly as many bodies as fit are admitted and read, every other client gets 503 with Retry-After
before its body is read (the server has read only what it buffers per connection), and the admitted
ones, once their bodies are complete, are scored. Server RSS stays within a small multiple of the
budget, far below what 64 bodies read at once would take.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from models.formatting import PairFormatter
from rmserve import OverloadedError, RetryPolicy, RewardClient
from tests.reliability.conftest import (
    ServerProcess,
    expected_score,
    record_figures,
    rerun_command,
    start_server,
    wait_until,
)

MIB = 1024 * 1024
MAX_BODY_BYTES = 4 * MIB
BUDGET_BYTES = 16 * MIB
CONNECTIONS = 64
BODY_BYTES = MAX_BODY_BYTES - 1024
FIRST_PIECE_BYTES = 1024  # sent with the headers: well under what uvicorn buffers before the app reads
ADMITTED = BUDGET_BYTES // BODY_BYTES
RSS_GROWTH_LIMIT_BYTES = 4 * BUDGET_BYTES  # 64 bodies read at once would be 16x the budget, raw


@pytest.fixture(scope="module")
def budget_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[ServerProcess]:
    settings = {
        "backend_factory": "tests.service.fault_backends:gated_backend",
        "max_body_bytes": str(MAX_BODY_BYTES),
        "max_inflight_body_bytes": str(BUDGET_BYTES),
        "profile_budget_s": "0",
        "log_level": "warning",
    }
    # The gate file never exists: the backend answers at once.
    server = start_server(
        tiny_encoder_dir, settings, log_dir, env={"FAULT_BACKEND_GATE_FILE": str(log_dir / "no-gate")}
    )
    yield server
    server.stop()


def padded_body(index: int) -> bytes:
    """A valid /v1/score body of exactly BODY_BYTES: one pair, then JSON whitespace (cheap to parse)."""
    pair = {"items": [{"prompt": "Summarise the plot of Hamlet.", "response": f"upload {index}"}]}
    head = json.dumps(pair).encode()
    return head + b" " * (BODY_BYTES - len(head))


class RssPeak:
    """Samples the server's RSS in a thread until stopped, keeping the highest (a measurement, not a sync)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.server.rss_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, body


async def upload_all(url: str) -> tuple[list[tuple[int, dict[str, str], bytes]], list[tuple[int, int, bytes]]]:
    """Start every upload; return the early answers, and (index, status, body) of each admitted upload's
    answer once its body was completed."""
    parts = urlsplit(url)
    bodies = [padded_body(i) for i in range(CONNECTIONS)]
    connections = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(CONNECTIONS)]
    for (_, writer), body in zip(connections, bodies, strict=True):
        head = (
            f"POST /v1/score HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + body[:FIRST_PIECE_BYTES])
        await writer.drain()
    answers = {i: asyncio.ensure_future(read_response(reader)) for i, (reader, _) in enumerate(connections)}
    # The refused answer at once; the admitted wait for the rest of their bodies (until then, no answer).
    early: list[tuple[int, dict[str, str], bytes]] = []
    pending = set(answers.values())
    while len(early) < CONNECTIONS - ADMITTED:
        done, pending = await asyncio.wait(pending, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            raise TimeoutError(f"only {len(early)} early answers")
        early += [task.result() for task in done]
    admitted = [i for i, task in answers.items() if not task.done()]
    for i in admitted:
        writer = connections[i][1]
        writer.write(bodies[i][FIRST_PIECE_BYTES:])
        await writer.drain()
    late = []
    for i in admitted:
        status, _, body = await answers[i]
        late.append((i, status, body))
    for _, writer in connections:
        writer.close()
    return early, late


def test_bodies_past_the_budget_are_refused_before_they_are_read(
    budget_server: ServerProcess, formatter: PairFormatter
) -> None:
    server = budget_server
    rss_before = server.rss_bytes()
    peak = RssPeak(server)
    try:
        early, late = asyncio.run(upload_all(server.url))
    finally:
        rss_peak = peak.stop()
    for status, headers, body in early:
        assert status == 503, body
        assert int(headers["retry-after"]) >= 1
        assert json.loads(body)["error"]["type"] == "overloaded"
    assert len(late) == ADMITTED
    for index, status, body in late:
        assert status == 200, body
        want = expected_score(formatter, "Summarise the plot of Hamlet.", f"upload {index}")
        assert json.loads(body)["scores"] == pytest.approx([want], abs=1e-4)
    assert server.metric("rmserve_request_body_bytes_held") == 0  # every request gave its bytes back
    growth = rss_peak - rss_before
    assert growth < RSS_GROWTH_LIMIT_BYTES, f"server RSS grew by {growth / MIB:.1f} MiB"
    record_figures(
        "memory: 64 connections uploading near-cap bodies",
        rerun_command("test_body_budget.py"),
        sent=CONNECTIONS,
        succeeded=len(late),
        refused=len(early),
        failed=0,
        lost=CONNECTIONS - len(early) - len(late),
        body_mib=round(BODY_BYTES / MIB, 2),
        budget_mib=BUDGET_BYTES // MIB,
        rss_mib_before=round(rss_before / MIB, 1),
        rss_growth_mib=round(growth / MIB, 1),
        note=f"{len(early)} bodies refused (503 + Retry-After) before they were read; the {len(late)} that fit "
        "the budget were read and scored",
    )


def hold_uploads(url: str, count: int) -> list[socket.socket]:
    """`count` connections that declare a near-cap body and send only its first KiB (they hold the budget)."""
    parts = urlsplit(url)
    held = []
    for index in range(count):
        body = padded_body(index)
        connection = socket.create_connection((parts.hostname, parts.port))
        head = (
            f"POST /v1/score HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        connection.sendall(head + body[:FIRST_PIECE_BYTES])
        held.append(connection)
    return held


def test_the_client_reads_a_budget_refusal_as_overload_and_succeeds_once_bodies_are_released(
    budget_server: ServerProcess,
) -> None:
    server = budget_server
    held = hold_uploads(server.url, ADMITTED)
    wait_until(
        lambda: server.metric("rmserve_request_body_bytes_held") == ADMITTED * BODY_BYTES,
        what="the budget held by the stalled uploads",
    )
    # One request near the cap: the server answers 503 before reading it, and closes; the client, still
    # uploading, must read that answer rather than report a broken connection.
    pairs = [("Summarise the plot of Hamlet.", "word " * 38_000) for _ in range(20)]
    try:
        with RewardClient(server.url, retry=RetryPolicy(max_attempts=1)) as client:
            with pytest.raises(OverloadedError) as refused:
                client.score(pairs)
            assert refused.value.status_code == 503 and refused.value.retry_after_s == 1.0
            assert refused.value.error_type == "overloaded"
    finally:
        for connection in held:
            connection.close()
    wait_until(lambda: server.metric("rmserve_request_body_bytes_held") == 0, what="the budget given back")
    with RewardClient(server.url, retry=RetryPolicy(max_attempts=1)) as client:
        assert len(client.score(pairs).scores) == len(pairs)
