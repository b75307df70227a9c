"""Shutdown: SIGTERM to the real server process with hundreds of requests in flight.

Every accepted request must be answered (with its own correct score), new requests refused (503, or the
connection refused once the listener is closed), and the process must exit 0 within the grace period.
A second server checks the other side of the contract: a backend stuck past the grace period must not
keep the process alive (Kubernetes would otherwise wait for its own kill timeout), and the requests it
held must not be left hanging on the client side.
"""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.formatting import PairFormatter
from tests.reliability.conftest import (
    expected_score,
    record_figures,
    rerun_command,
    start_server,
    wait_until,
)
from tests.reliability.load import LoadResult, open_loop
from tests.service.fault_backends import GATE_FILE_ENV

IN_FLIGHT = 300
GRACE_S = 60.0
PROMPT = "What is the capital of France?"


def body(index: int) -> dict[str, Any]:
    return {"items": [{"prompt": PROMPT, "response": f"in flight {index}"}]}


def gated_settings(grace_s: float) -> dict[str, str]:
    return {
        "backend_factory": "tests.service.fault_backends:gated_backend",
        "workers": "1",
        "max_batch_size": "1",
        "max_wait_ms": "0",
        "max_queue_items": str(4 * IN_FLIGHT),
        "interactive_max_queue_items": str(4 * IN_FLIGHT),  # single-pair requests queue in the interactive lane
        "request_timeout_s": "300",
        "shutdown_grace_s": str(grace_s),
        "profile_budget_s": "0",
        "log_level": "warning",
    }


def refused_after_sigterm(url: str) -> bool:
    """A new request after SIGTERM: 503 while the listener is still open, then connection refused."""
    try:
        answer = httpx.post(f"{url}/v1/score", json=body(-1), timeout=30)
    except httpx.TransportError:
        return True
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"]
    return True


def test_sigterm_with_hundreds_in_flight_loses_nothing(
    tiny_encoder_dir: Path, formatter: PairFormatter, log_dir: Path
) -> None:
    gate = log_dir / "shutdown-gate"
    server = start_server(tiny_encoder_dir, gated_settings(GRACE_S), log_dir, env={GATE_FILE_ENV: str(gate)})
    try:
        gate.touch()
        bodies = [body(i) for i in range(IN_FLIGHT)]
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(open_loop, server.url, bodies, 1000.0)
            # All accepted: one pair inside the stalled pass, the rest queued.
            wait_until(
                lambda: server.metric("rmserve_queue_items") == IN_FLIGHT - 1,
                timeout_s=120,
                what=f"{IN_FLIGHT} requests in flight",
            )
            server.process.send_signal(signal.SIGTERM)
            sigterm_at = time.monotonic()
            assert refused_after_sigterm(server.url)
            gate.unlink()
            result: LoadResult = load.result()
        exit_code = server.process.wait(timeout=GRACE_S)
        exit_s = time.monotonic() - sigterm_at
    finally:
        gate.unlink(missing_ok=True)
        server.stop()
    assert result.statuses == {"200": IN_FLIGHT}, result.statuses
    for outcome in result.outcomes:
        want = expected_score(formatter, PROMPT, f"in flight {outcome.index}")
        assert outcome.body["scores"] == pytest.approx([want], abs=1e-4)
    assert exit_code == 0
    record_figures(
        "shutdown: SIGTERM with requests in flight",
        rerun_command("test_shutdown.py", "test_sigterm_with_hundreds_in_flight_loses_nothing"),
        sent=IN_FLIGHT,
        succeeded=result.statuses["200"],
        refused=0,
        failed=IN_FLIGHT - result.statuses["200"],
        lost=IN_FLIGHT - len(result.outcomes),
        exit_code=exit_code,
        exit_after_sigterm_s=round(exit_s, 2),
        grace_s=GRACE_S,
        note="all in-flight requests accepted before SIGTERM were answered with their own scores; a new request "
        "after SIGTERM was refused; exit 0 within the grace period",
    )


def test_a_backend_stuck_past_the_grace_period_does_not_keep_the_process(tiny_encoder_dir: Path, log_dir: Path) -> None:
    grace_s = 10.0
    gate = log_dir / "stuck-gate"
    server = start_server(tiny_encoder_dir, gated_settings(grace_s), log_dir, env={GATE_FILE_ENV: str(gate)})
    held = 20
    try:
        gate.touch()
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(open_loop, server.url, [body(i) for i in range(held)], 1000.0)
            wait_until(lambda: server.metric("rmserve_queue_items") == held - 1, what="requests in flight")
            server.process.send_signal(signal.SIGTERM)
            sigterm_at = time.monotonic()
            try:
                exit_code = server.process.wait(timeout=grace_s + 60)
            except subprocess.TimeoutExpired:
                pytest.fail("the process outlived its grace period by a minute with a stuck backend")
            exit_s = time.monotonic() - sigterm_at
            result: LoadResult = load.result()
    finally:
        gate.unlink(missing_ok=True)
        server.stop()
    # The grace period is spent once, not once by the HTTP server and again by the batcher (which would take
    # twice as long); the margin is for the interpreter's own exit on a busy machine.
    assert exit_s < 2 * grace_s, f"exit took {exit_s:.1f} s after SIGTERM with a {grace_s:g} s grace period"
    # Nothing hangs and nothing gets a bare 500: each held request is told to retry elsewhere.
    assert result.statuses == {"503": held}, result.statuses
    for outcome in result.outcomes:
        assert outcome.body["error"]["type"] == "unavailable" and outcome.retry_after is not None
    assert exit_code == 0
    record_figures(
        "shutdown: backend stuck past the grace period",
        rerun_command("test_shutdown.py", "test_a_backend_stuck_past_the_grace_period_does_not_keep_the_process"),
        sent=held,
        succeeded=0,
        refused=held,
        failed=0,
        lost=held - len(result.outcomes),
        exit_code=exit_code,
        exit_after_sigterm_s=round(exit_s, 2),
        grace_s=grace_s,
        note="the backend never returns: at the end of the grace period every held request gets 503 with "
        "Retry-After (retry on another replica) and the process exits 0",
    )
