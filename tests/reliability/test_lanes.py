"""Priority lanes against the real server process: interactive requests ahead of a saturating bulk load,
and bulk not starved by a saturating interactive load.

The backend sleeps a fixed time per pass plus a time per pair (`slow_backend`) on one worker, so whatever
how busy the machine's CPUs are, a bulk request of 16 pairs is one batch of 225 ms: longer than the bulk
lane's pass-over bound, as a real model's bulk batches are longer than the default bound.
The comparisons are between the two lanes of the same run (queue waits the server reports in
`x-queue-time`), not against a wall-clock constant.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from models.formatting import PairFormatter
from tests.reliability.backends import PAIR_MS_ENV, PASS_MS_ENV
from tests.reliability.conftest import (
    ServerProcess,
    expected_score,
    record_figures,
    rerun_command,
    start_server,
)
from tests.reliability.load import LoadResult, closed_loop, open_loop, percentile_ms

PASS_MS = 25.0  # a fixed cost per pass, so the batcher fills batches (with none it gains nothing by it)
PAIR_MS = 12.5
PAIRS_PER_BULK = 16
BULK_CLIENTS = 8  # about 8 x 225 ms of bulk work queued at any time: saturation
BULK_PASS_OVER_MS = 100.0


@pytest.fixture(scope="module")
def lanes_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[ServerProcess]:
    settings = {
        "backend_factory": "tests.reliability.backends:slow_backend",
        "workers": "1",
        "max_batch_size": str(PAIRS_PER_BULK),
        "max_wait_ms": "0",
        "bulk_max_pass_over_ms": str(BULK_PASS_OVER_MS),
        "profile_budget_s": "8",  # the cost model learns what a pass costs, so bulk batches fill to 16
        "backend_worker_nice": "0",  # the backend sleeps; a lowered worker waits for a busy machine's CPU
        "log_level": "warning",
    }
    server = start_server(
        tiny_encoder_dir, settings, log_dir, env={PASS_MS_ENV: str(PASS_MS), PAIR_MS_ENV: str(PAIR_MS)}
    )
    yield server
    server.stop()


def score_body(tag: str, index: int, priority: str | None = None) -> dict[str, Any]:
    items = [
        {"prompt": "Summarise the plot of Hamlet.", "response": f"{tag} answer {index:05d} part {part:02d}"}
        for part in range(PAIRS_PER_BULK)
    ]
    return {"items": items} if priority is None else {"items": items, "priority": priority}


def gate_body(index: int) -> dict[str, Any]:
    return {"prompt": "Is this reply safe?", "response": f"gate reply {index:05d}"}


def assert_all_scored(result: LoadResult, bodies: list[dict[str, Any]], formatter: PairFormatter) -> None:
    assert result.statuses == {"200": len(bodies)}, result.statuses
    for outcome in result.outcomes:
        body = bodies[outcome.index]
        items = body.get("items") or [{"prompt": body["prompt"], "response": body["response"]}]
        want = [expected_score(formatter, item["prompt"], item["response"]) for item in items]
        got = outcome.body["scores"] if "scores" in outcome.body else [outcome.body["score"]]
        assert got == pytest.approx(want, abs=1e-4), f"request {outcome.index}"


def queue_ms(result: LoadResult) -> list[float]:
    return [o.server_queue_ms / 1000 for o in result.outcomes if o.server_queue_ms is not None]


def test_gate_requests_are_served_ahead_of_a_saturating_bulk_load(
    lanes_server: ServerProcess, formatter: PairFormatter
) -> None:
    server = lanes_server
    bulk_bodies = [score_body("bulk", i) for i in range(BULK_CLIENTS * 8)]  # about 14 s of work
    gate_bodies = [gate_body(i) for i in range(30)]
    with ThreadPoolExecutor(1) as pool:
        bulk_load = pool.submit(closed_loop, server.url, bulk_bodies, BULK_CLIENTS)
        # Gate requests at 5 per second while the bulk load runs (it lasts longer than these 6 s).
        gates = open_loop(server.url, gate_bodies, rate_rps=5.0, path="/v1/gate")
        bulk = bulk_load.result()
    assert_all_scored(bulk, bulk_bodies, formatter)
    assert_all_scored(gates, gate_bodies, formatter)
    assert max(o.finished_at for o in gates.outcomes) < max(o.finished_at for o in bulk.outcomes), (
        "the bulk load ended before the gate requests: nothing was measured under load"
    )
    gate_wait, bulk_wait = queue_ms(gates), queue_ms(bulk)
    gate_p90, gate_p99 = percentile_ms(gate_wait, 0.9), percentile_ms(gate_wait, 0.99)
    bulk_p50 = percentile_ms(bulk_wait, 0.5)
    assert gate_p90 is not None and bulk_p50 is not None
    # A gate pair waits at most for the bulk batch in flight (up to 225 ms); a bulk request waits for the
    # bulk requests queued ahead of it (about 7 x 225 ms). Served in one FIFO, or behind an overdue bulk
    # lane, a gate would wait as long as bulk does. (The p90 of 30 gates: the slowest few wait out the
    # scheduling noise of a machine that may be shared.)
    assert gate_p90 * 3 < bulk_p50, f"gate p90 queue wait {gate_p90} ms, bulk p50 {bulk_p50} ms"
    record_figures(
        "lanes: gate at 5/s beside saturating bulk",
        rerun_command("test_lanes.py", "test_gate_requests_are_served_ahead_of_a_saturating_bulk_load"),
        sent=len(bulk_bodies) + len(gate_bodies),
        succeeded=len(bulk.outcomes) + len(gates.outcomes),
        refused=0,
        failed=0,
        lost=0,
        gate_queue_p50_ms=percentile_ms(gate_wait, 0.5),
        gate_queue_p90_ms=gate_p90,
        gate_queue_p99_ms=gate_p99,
        bulk_queue_p50_ms=bulk_p50,
        bulk_request_ms=PASS_MS + PAIR_MS * PAIRS_PER_BULK,
        note="queue waits from the server's x-queue-time; a bulk request is one 225 ms batch of backend work",
    )


def test_bulk_is_not_starved_by_a_saturating_interactive_load(
    lanes_server: ServerProcess, formatter: PairFormatter
) -> None:
    server = lanes_server
    # 16-pair requests sent as interactive on purpose, from enough clients to keep the worker busy.
    flood_bodies = [score_body("flood", i, priority="interactive") for i in range(48)]  # about 11 s of work
    bulk_bodies = [score_body("starved", i) for i in range(2)]
    with ThreadPoolExecutor(1) as pool:
        flood_load = pool.submit(closed_loop, server.url, flood_bodies, 4)
        bulk = closed_loop(server.url, bulk_bodies, 1)
        flood = flood_load.result()
    assert_all_scored(flood, flood_bodies, formatter)
    assert_all_scored(bulk, bulk_bodies, formatter)
    last_bulk = max(o.finished_at for o in bulk.outcomes)
    after = sum(1 for o in flood.outcomes if o.finished_at > last_bulk)
    # Both bulk requests were answered while the interactive flood was still being served.
    assert after > 0, "the bulk requests waited for the whole interactive flood"
    record_figures(
        "lanes: bulk beside a saturating interactive load",
        rerun_command("test_lanes.py", "test_bulk_is_not_starved_by_a_saturating_interactive_load"),
        sent=len(flood_bodies) + len(bulk_bodies),
        succeeded=len(flood.outcomes) + len(bulk.outcomes),
        refused=0,
        failed=0,
        lost=0,
        bulk_latency_max_ms=percentile_ms(bulk.latencies_s(200), 1.0),
        interactive_answered_after_the_bulk=after,
        bulk_max_pass_over_ms=BULK_PASS_OVER_MS,
        note="bulk gets a batch at least every bulk_max_pass_over_ms while interactive pairs are queued",
    )
