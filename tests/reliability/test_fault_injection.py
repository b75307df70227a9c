"""Faults inside the real server process: a backend that raises on some batches, a worker thread that
dies, and a backend that stalls. The service must fail only what the fault touched, with a clear error,
detect the rest (readiness), and go on; nothing may hang or be lost.

(tests/service/test_faults.py covers the same faults in-process, one request at a time; here they happen
under concurrent load, over HTTP, in `rmserve serve` itself.)
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.formatting import PairFormatter
from tests.reliability.backends import KILL_TOKENS_ENV, POISON_TOKENS_ENV
from tests.reliability.conftest import (
    ServerProcess,
    expected_score,
    record_figures,
    rerun_command,
    start_server,
    wait_until,
)
from tests.reliability.load import closed_loop
from tests.service.fault_backends import GATE_FILE_ENV

PROMPT = "Tell me a fact."
POISON = "poison " * 9
KILL = "kill " * 23
WORKERS = 2


def body(response: str, timeout_s: float | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"items": [{"prompt": PROMPT, "response": response}]}
    if timeout_s is not None:
        payload["timeout_s"] = timeout_s
    return payload


def normal(index: int) -> str:
    return f"answer number {index}"


@pytest.fixture(scope="module")
def poisoned_server(tiny_encoder_dir: Path, formatter: PairFormatter, log_dir: Path) -> Iterator[ServerProcess]:
    poison_tokens = formatter.encode(PROMPT, POISON).num_tokens
    kill_tokens = formatter.encode(PROMPT, KILL).num_tokens
    normal_tokens = {formatter.encode(PROMPT, normal(i)).num_tokens for i in range(200)}
    assert not normal_tokens & {poison_tokens, kill_tokens}, "the injected lengths must not occur in normal requests"
    settings = {
        "backend_factory": "tests.reliability.backends:poisoned_backend",
        "workers": str(WORKERS),
        "max_batch_size": "1",
        "profile_budget_s": "0",
        "log_level": "warning",
    }
    env = {POISON_TOKENS_ENV: str(poison_tokens), KILL_TOKENS_ENV: str(kill_tokens)}
    server = start_server(tiny_encoder_dir, settings, log_dir, env=env)
    yield server
    server.stop()


def test_a_backend_that_raises_fails_only_its_batches(poisoned_server: ServerProcess, formatter: PairFormatter) -> None:
    responses = [POISON if i % 5 == 0 else normal(i) for i in range(60)]
    result = closed_loop(poisoned_server.url, [body(r) for r in responses], concurrency=8)
    succeeded = failed = 0
    for outcome in result.outcomes:
        response = responses[outcome.index]
        if response == POISON:
            assert outcome.status == 500, outcome
            assert outcome.body == {
                "error": {"type": "backend_error", "message": "the model failed on this batch: injected failure"}
            }
            failed += 1
        else:
            assert outcome.status == 200, outcome
            assert outcome.body["scores"] == pytest.approx([expected_score(formatter, PROMPT, response)], abs=1e-4)
            succeeded += 1
    assert httpx.get(f"{poisoned_server.url}/ready", timeout=30).status_code == 200
    record_figures(
        "fault: backend raises on some batches",
        rerun_command("test_fault_injection.py", "test_a_backend_that_raises_fails_only_its_batches"),
        sent=len(responses),
        succeeded=succeeded,
        refused=0,
        failed=failed,
        lost=len(responses) - len(result.outcomes),
        note=f"the {failed} failed are exactly the poisoned requests (500 backend_error); all others scored",
    )


def test_a_dead_worker_is_replaced_and_the_service_goes_on(
    poisoned_server: ServerProcess, formatter: PairFormatter
) -> None:
    server = poisoned_server
    restarts_before = server.metric("rmserve_worker_restarts_total")
    kills = 3
    # Kill a worker several times (more than there are workers) while normal traffic runs beside it.
    responses = [KILL if i % 15 == 7 else normal(i) for i in range(15 * kills)]
    result = closed_loop(server.url, [body(r) for r in responses], concurrency=6)
    succeeded = failed = 0
    for outcome in result.outcomes:
        response = responses[outcome.index]
        if response == KILL:
            assert outcome.status == 500, outcome
            assert outcome.body["error"]["type"] == "backend_error"
            failed += 1
        else:
            assert outcome.status == 200, outcome
            assert outcome.body["scores"] == pytest.approx([expected_score(formatter, PROMPT, response)], abs=1e-4)
            succeeded += 1
    assert failed == kills
    assert server.metric("rmserve_worker_restarts_total") - restarts_before == kills
    # Every worker is back: readiness reports a missing worker, and it is ready; the process still serves.
    ready = httpx.get(f"{server.url}/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    after = closed_loop(server.url, [body(normal(i)) for i in range(2 * WORKERS)], concurrency=WORKERS)
    assert after.statuses == {"200": 2 * WORKERS}
    assert "backend worker" in server.log_text() and "died" in server.log_text()
    record_figures(
        "fault: worker thread dies",
        rerun_command("test_fault_injection.py", "test_a_dead_worker_is_replaced_and_the_service_goes_on"),
        sent=len(responses) + len(after.outcomes),
        succeeded=succeeded + len(after.outcomes),
        refused=0,
        failed=failed,
        lost=len(responses) - len(result.outcomes),
        worker_restarts=kills,
        note=f"{kills} worker threads killed (BaseException in the pass): only their requests failed (500); "
        "each worker was replaced and counted in rmserve_worker_restarts_total",
    )


@pytest.fixture(scope="module")
def stalling_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[tuple[ServerProcess, Path]]:
    gate = log_dir / "stall-gate"
    settings = {
        "backend_factory": "tests.service.fault_backends:gated_backend",
        "workers": "1",
        "max_batch_size": "1",
        "max_queue_items": "8",
        "request_timeout_s": "1",
        "max_request_timeout_s": "2",
        "profile_budget_s": "0",
        "log_level": "warning",
    }
    server = start_server(tiny_encoder_dir, settings, log_dir, env={GATE_FILE_ENV: str(gate)})
    yield server, gate
    gate.unlink(missing_ok=True)
    server.stop()


def test_a_stalled_backend_fires_deadlines_and_withdraws_readiness(
    stalling_server: tuple[ServerProcess, Path], formatter: PairFormatter
) -> None:
    server, gate = stalling_server
    url = server.url
    gate.touch()
    stalled = [body(normal(i)) for i in range(6)]
    with ThreadPoolExecutor(len(stalled)) as pool:
        futures = [pool.submit(httpx.post, f"{url}/v1/score", json=b, timeout=60) for b in stalled]
        # While the only worker is stuck: liveness answers, readiness turns to "stalled" once the pass has
        # run longer than max_request_timeout_s, and every request gets its 504 at its deadline.
        health_checks = 0

        def stalled_and_alive() -> bool:
            nonlocal health_checks
            assert httpx.get(f"{url}/health", timeout=30).json()["status"] == "ok"
            health_checks += 1
            ready = httpx.get(f"{url}/ready", timeout=30)
            return ready.status_code == 503 and "stalled" in (ready.json()["reason"] or "")

        wait_until(stalled_and_alive, what="/ready reporting the stall")
        answers = [f.result() for f in futures]
    assert [a.status_code for a in answers] == [504] * len(stalled)
    assert {a.json()["error"]["type"] for a in answers} == {"deadline_exceeded"}
    wait_until(lambda: server.metric("rmserve_queue_items") == 0, what="the expired pairs leaving the queue")
    gate.unlink()
    wait_until(lambda: httpx.get(f"{url}/ready", timeout=30).status_code == 200, what="readiness after the stall")
    recovered = [body(normal(100 + i)) for i in range(5)]
    result = closed_loop(url, recovered, concurrency=2)
    assert result.statuses == {"200": 5}
    for outcome in result.outcomes:
        response = recovered[outcome.index]["items"][0]["response"]
        assert outcome.body["scores"] == pytest.approx([expected_score(formatter, PROMPT, response)], abs=1e-4)
    record_figures(
        "fault: backend stalls",
        rerun_command("test_fault_injection.py", "test_a_stalled_backend_fires_deadlines_and_withdraws_readiness"),
        sent=len(stalled) + len(recovered),
        succeeded=len(recovered),
        refused=0,
        failed=len(stalled),
        lost=0,
        health_checks_answered=health_checks,
        note=f"the {len(stalled)} failed are 504 deadline_exceeded during the stall, as they must be; /health "
        f"answered {health_checks} times meanwhile, /ready said 503 'stalled', then 200 after it",
    )
