"""Overload: offered load at 2x and 5x the saturation rate, against the real server process.

The backend sleeps a fixed time per pass (`tests.reliability.backends.slow_backend`), one pair per pass,
one worker, so saturation is set by the settings and not by how busy the machine's CPUs are; it is still
measured first (closed loop) and the offered rates are multiples of the measured figure. Every request
must either succeed with the reference score of its own pairs or be refused fast (429/503 with
Retry-After); nothing may time out on the client, answer 5xx, be lost or be answered twice (the server's
own request counters must match the client's counts). Server memory must stay bounded and the service
must answer normally again once the load stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.formatting import PairFormatter
from tests.reliability.backends import PASS_MS_ENV
from tests.reliability.conftest import (
    ServerProcess,
    expected_score,
    record_figures,
    rerun_command,
    start_server,
    wait_until,
)
from tests.reliability.load import LoadResult, closed_loop, open_loop, percentile_ms

# One pass, one pair, 200 ms: saturation about 5 requests per second. The pass is long next to the HTTP
# work of a request (a few ms of CPU), so that even on a machine whose CPUs are shared many times over
# the backend, not the event loop, is what saturates, and the offered multiples are real.
PASS_MS = 200
MAX_QUEUE_ITEMS = 8
REQUEST_TIMEOUT_S = 20.0  # the server's deadline: an accepted request slower than this would be a 504
PHASE_REQUESTS = {2: 40, 5: 100}  # about 4 s of offered load each at the designed saturation
RSS_GROWTH_LIMIT_BYTES = 64 * 1024 * 1024
OK_STATUSES = {200}
REFUSAL_STATUSES = {429, 503}


@pytest.fixture(scope="module")
def slow_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[ServerProcess]:
    settings = {
        "backend_factory": "tests.reliability.backends:slow_backend",
        "workers": "1",
        "max_batch_size": "1",
        "max_wait_ms": "0",
        "max_queue_items": str(MAX_QUEUE_ITEMS),
        "interactive_max_queue_items": str(MAX_QUEUE_ITEMS),  # single-pair requests queue in the interactive lane
        "request_timeout_s": str(REQUEST_TIMEOUT_S),
        "profile_budget_s": "0",
        "log_level": "warning",
    }
    server = start_server(tiny_encoder_dir, settings, log_dir, env={PASS_MS_ENV: str(PASS_MS)})
    yield server
    server.stop()


def score_body(tag: str, index: int) -> dict[str, Any]:
    """One pair per request, each pair's response unique, so each answer can be checked against its own pair."""
    return {"items": [{"prompt": "Summarise the plot of Hamlet.", "response": f"{tag} answer number {index}"}]}


def check_outcomes(result: LoadResult, bodies: list[dict[str, Any]], formatter: PairFormatter) -> dict[str, int]:
    """Assert the per-request contract; return the counts (sent, succeeded, refused, failed, lost)."""
    succeeded = refused = 0
    problems: list[str] = []
    for outcome in result.outcomes:
        if outcome.status in OK_STATUSES:
            item = bodies[outcome.index]["items"][0]
            want = expected_score(formatter, item["prompt"], item["response"])
            got = outcome.body["scores"]
            if len(got) != 1 or abs(got[0] - want) > 1e-4:
                problems.append(f"request {outcome.index}: scores {got}, expected [{want}]")
            succeeded += 1
        elif outcome.status in REFUSAL_STATUSES:
            if outcome.retry_after is None or int(outcome.retry_after) < 1:
                problems.append(f"request {outcome.index}: {outcome.status} without Retry-After")
            if outcome.body["error"]["type"] not in ("overloaded", "unavailable"):
                problems.append(f"request {outcome.index}: refusal body {outcome.body}")
            refused += 1
        else:
            problems.append(f"request {outcome.index}: status {outcome.status} ({outcome.error}) {outcome.body}")
    assert not problems, problems[:10]
    failed = len(result.outcomes) - succeeded - refused
    return {
        "sent": len(bodies),
        "succeeded": succeeded,
        "refused": refused,
        "failed": failed,
        "lost": len(bodies) - len(result.outcomes),
    }


def server_counts(server: ServerProcess) -> dict[str, float]:
    samples = server.metrics()
    return {
        status: samples.get(f'rmserve_requests_total{{route="/v1/score",status="{status}"}}', 0.0)
        for status in ("200", "429", "503", "500", "504")
    }


def test_overload_at_2x_and_5x_saturation(slow_server: ServerProcess, formatter: PairFormatter) -> None:
    server = slow_server
    # Saturation, measured: a closed loop that keeps the (single) worker always busy.
    saturation_bodies = [score_body("saturation", i) for i in range(20)]
    saturation = closed_loop(server.url, saturation_bodies, concurrency=MAX_QUEUE_ITEMS // 2)
    assert saturation.statuses == {"200": 20}, saturation.statuses
    saturation_rps = 20 / saturation.elapsed_s
    baseline = closed_loop(server.url, [score_body("baseline", i) for i in range(5)], concurrency=1)
    rss_before = server.rss_bytes()
    figures: dict[str, Any] = {
        "saturation_rps": round(saturation_rps, 1),
        "baseline_p50_ms": percentile_ms(baseline.latencies_s(200), 0.5),
        "pass_ms": PASS_MS,
        "max_queue_items": MAX_QUEUE_ITEMS,
    }

    for factor, count in PHASE_REQUESTS.items():
        bodies = [score_body(f"{factor}x", i) for i in range(count)]
        counts_before = server_counts(server)
        result = open_loop(server.url, bodies, rate_rps=factor * saturation_rps)
        counts = check_outcomes(result, bodies, formatter)
        assert counts["lost"] == 0 and counts["failed"] == 0
        assert counts["refused"] > 0, "the offered load never overflowed the queue: not an overload"
        assert counts["succeeded"] > 0
        # The server answered each request exactly once: its counters match the client's.
        counts_after = server_counts(server)
        delta = {status: counts_after[status] - counts_before[status] for status in counts_after}
        assert delta["200"] == counts["succeeded"], delta
        assert delta["429"] + delta["503"] == counts["refused"], delta
        assert delta["500"] == delta["504"] == 0, delta
        accepted_s = result.latencies_s(200)
        refused_s = [o.latency_s for o in result.outcomes if o.status in REFUSAL_STATUSES]
        # The latency bound of accepted requests: the server's deadline (a slower one would have been a 504,
        # and there were none); the figures show how far below it they stayed.
        assert max(accepted_s) < REQUEST_TIMEOUT_S
        figures[f"{factor}x"] = {
            **counts,
            "offered_rps": round(factor * saturation_rps, 1),
            "accepted_p50_ms": percentile_ms(accepted_s, 0.5),
            "accepted_p99_ms": percentile_ms(accepted_s, 0.99),
            "accepted_max_ms": percentile_ms(accepted_s, 1.0),
            "refused_p50_ms": percentile_ms(refused_s, 0.5),
            "refused_p99_ms": percentile_ms(refused_s, 0.99),
            "rss_mib_after": round(server.rss_bytes() / 2**20, 1),
        }

    rss_growth = server.rss_bytes() - rss_before
    assert rss_growth < RSS_GROWTH_LIMIT_BYTES, f"server RSS grew by {rss_growth / 2**20:.1f} MiB under overload"

    # Recovery: the queue empties and sequential requests are answered at once, none refused.
    wait_until(lambda: server.metric("rmserve_queue_items") == 0, what="an empty queue after the load")
    after = closed_loop(server.url, [score_body("after", i) for i in range(5)], concurrency=1)
    assert after.statuses == {"200": 5}, after.statuses
    after_p50_ms = percentile_ms(after.latencies_s(200), 0.5)
    # Normal is one pass (200 ms); a generous bound that only a queue still backed up would break.
    assert after_p50_ms is not None and after_p50_ms < 5 * PASS_MS + 2000, "latency did not come back after the load"
    figures.update(rss_mib_before=round(rss_before / 2**20, 1), rss_growth_mib=round(rss_growth / 2**20, 1))
    figures["after_p50_ms"] = after_p50_ms
    for factor in PHASE_REQUESTS:
        phase = figures.pop(f"{factor}x")
        record_figures(
            f"overload {factor}x saturation",
            rerun_command("test_overload.py"),
            **phase,
            **{k: v for k, v in figures.items() if not isinstance(v, dict)},
        )
