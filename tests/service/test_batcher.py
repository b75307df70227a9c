"""The dynamic batcher with fake backends: order, splitting, budgets, admission, deadlines, settling."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from models.formatting import EncodedPair
from service.batcher import (
    BatcherClosed,
    BatcherConfig,
    DeadlineUnreachable,
    DynamicBatcher,
    ItemExpired,
    QueueFull,
    WorkerDied,
)
from service.cost_model import CostModel
from service.settings import Settings
from tests.service.fault_backends import BlockingBackend, FailingBackend, FakeBackend, reference_score


def pair(n_tokens: int, salt: int = 0) -> EncodedPair:
    return EncodedPair(tuple((salt * 7 + i) % 50 + 1 for i in range(n_tokens)), None, False)


def far_deadline() -> float:
    return time.monotonic() + 60.0


def config(**overrides: int | float) -> BatcherConfig:
    """The server's defaults (one source: Settings) with small batches, no waiting and one worker."""
    values: dict[str, int | float] = {
        "max_batch_size": 8,
        "max_batch_tokens": 4096,
        "max_wait_ms": 0.0,
        "workers": 1,
        "backend_worker_nice": 0,
    }
    values.update(overrides)
    return Settings(**values).batcher_config()  # type: ignore[arg-type]


def results(futures: Sequence, timeout_s: float = 30.0) -> list[float]:
    return [f.result(timeout=timeout_s).score for f in futures]


def test_scores_come_back_in_request_order_when_split_across_batches() -> None:
    backend = FakeBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=4))
    pairs = [pair(5 + (i * 37) % 90, salt=i) for i in range(30)]
    ticket = batcher.submit(pairs, far_deadline())
    batcher.start()
    try:
        assert results(ticket.futures) == pytest.approx([reference_score(p) for p in pairs])
    finally:
        batcher.close()
    assert len(backend.batches) >= 30 / 4
    assert all(len(b) <= 4 for b in backend.batches)
    assert sum(len(b) for b in backend.batches) == 30


def test_batches_respect_the_token_budget_and_group_similar_lengths() -> None:
    backend = FakeBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=16, max_batch_tokens=800))
    short = [pair(10, salt=i) for i in range(12)]
    long = [pair(200, salt=i) for i in range(12)]
    mixed = [p for two in zip(short, long, strict=True) for p in two]  # arrival order alternates lengths
    ticket = batcher.submit(mixed, far_deadline())
    batcher.start()
    try:
        results(ticket.futures)
    finally:
        batcher.close()
    for batch in backend.batches:
        lengths = [p.num_tokens for p in batch]
        assert len(batch) * max(lengths) <= 800
        assert len(set(lengths)) == 1, f"a batch mixed lengths {lengths}"


def test_cost_model_decides_the_batch_size() -> None:
    # Per-row cost that grows with the batch (a CPU where big batches lose): the planner runs single pairs.
    cpu_like = CostModel({(r, t): 1e-3 * r * r * t for r in (1, 2, 4, 8) for t in (16, 64)})
    # A large fixed cost per pass (a GPU): the planner fills the batch.
    gpu_like = CostModel({(r, t): 1.0 + 1e-6 * r * t for r in (1, 8) for t in (16, 64)})
    sizes = {}
    for name, model in (("cpu", cpu_like), ("gpu", gpu_like)):
        backend = FakeBackend()
        batcher = DynamicBatcher(backend, config(max_batch_size=8), cost_model=model)
        ticket = batcher.submit([pair(16, salt=i) for i in range(16)], far_deadline())
        batcher.start()
        results(ticket.futures)
        batcher.close()
        sizes[name] = {len(b) for b in backend.batches}
    assert sizes["cpu"] == {1}
    assert sizes["gpu"] == {8}


def test_a_barely_faster_larger_batch_is_not_worth_holding_pairs_for() -> None:
    """Cost linear in rows, as for an int8 model that runs one pair per run, with a percent of timing noise
    in the larger batches' favour: single pairs, so that both workers get work and no pair waits for
    seven others to run before it is answered."""
    linear = CostModel({(r, t): 1e-3 * r * t * (1 - 0.01 * (r > 1)) for r in (1, 2, 4, 8) for t in (16, 64)})
    backend = FakeBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=8, workers=2), cost_model=linear)
    ticket = batcher.submit([pair(16, salt=i) for i in range(16)], far_deadline())
    batcher.start()
    try:
        results(ticket.futures)
    finally:
        batcher.close()
    assert {len(b) for b in backend.batches} == {1}


def test_admission_refuses_when_queue_is_full_but_always_admits_into_an_empty_queue() -> None:
    batcher = DynamicBatcher(FakeBackend(), config(max_queue_items=4, max_queue_tokens=1000))
    with batcher.reserve(10, 5000, far_deadline()):  # larger than both bounds, but the queue is empty
        pass
    first = batcher.reserve(3, 30, far_deadline())
    with pytest.raises(QueueFull) as refused:
        batcher.reserve(2, 20, far_deadline())
    assert refused.value.retry_after_s >= 1
    first.submit([pair(10), pair(10), pair(10)])
    assert batcher.queued_items == 3
    with pytest.raises(QueueFull):
        batcher.reserve(1, 999, far_deadline())  # room in items, not in tokens
    batcher.reserve(1, 10, far_deadline())
    batcher.close(drain=False)


def test_a_reservation_gives_back_its_room_and_its_unstarted_pairs_however_the_request_ends() -> None:
    batcher = DynamicBatcher(FakeBackend(), config(max_queue_items=4, max_queue_tokens=1000))
    with pytest.raises(ValueError), batcher.reserve(4, 40, far_deadline()):
        raise ValueError("tokenizing failed")  # never submitted: the room comes back
    with batcher.reserve(4, 40, far_deadline()) as reservation:
        ticket = reservation.submit([pair(10, salt=i) for i in range(4)])
        assert batcher.queued_items == 4
    # The request ended (here before any worker ran): its queued pairs are dropped, the queue is empty.
    assert batcher.queued_items == 0 and batcher.queued_tokens == 0
    assert all(future.cancelled() for future in ticket.futures)
    with batcher.reserve(4, 40, far_deadline()):
        pass
    batcher.close(drain=False)


def test_expired_and_cancelled_pairs_never_reach_the_backend() -> None:
    backend = FakeBackend()
    batcher = DynamicBatcher(backend, config())
    expired = batcher.submit([pair(12, salt=1)], time.monotonic() - 1.0)
    cancelled = batcher.submit([pair(13, salt=2), pair(14, salt=3)], far_deadline())
    kept = batcher.submit([pair(15, salt=4)], far_deadline())
    batcher.cancel(cancelled)
    assert batcher.queued_items == 2
    batcher.start()
    try:
        assert results(kept.futures) == pytest.approx([reference_score(pair(15, salt=4))])
        with pytest.raises(ItemExpired):
            expired.futures[0].result(timeout=30)
    finally:
        batcher.close()
    assert all(f.cancelled() for f in cancelled.futures)
    ran = {p.num_tokens for b in backend.batches for p in b}
    assert ran == {15}
    assert batcher.queued_items == 0 and batcher.queued_tokens == 0


def test_a_failing_batch_fails_only_its_own_futures() -> None:
    backend = FailingBackend(poison_tokens=20)
    batcher = DynamicBatcher(backend, config(max_batch_size=1))
    good = batcher.submit([pair(30, salt=i) for i in range(4)], far_deadline())
    bad = batcher.submit([pair(20, salt=i) for i in range(2)], far_deadline())
    batcher.start()
    try:
        assert results(good.futures) == pytest.approx([reference_score(pair(30, salt=i)) for i in range(4)])
        for future in bad.futures:
            with pytest.raises(RuntimeError, match="injected failure"):
                future.result(timeout=30)
        # The service goes on after a failed batch.
        after = batcher.submit([pair(31)], far_deadline())
        assert results(after.futures) == pytest.approx([reference_score(pair(31))])
    finally:
        batcher.close()


class WrongLengthBackend(FakeBackend):
    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        return np.zeros(len(batch) + 1, dtype=np.float32)


def test_a_backend_returning_the_wrong_number_of_scores_fails_the_whole_batch() -> None:
    batcher = DynamicBatcher(WrongLengthBackend(), config())
    ticket = batcher.submit([pair(10, salt=i) for i in range(3)], far_deadline())
    batcher.start()
    try:
        for future in ticket.futures:
            with pytest.raises(RuntimeError, match="scores for a batch"):
                future.result(timeout=30)
    finally:
        batcher.close()


class DyingBackend(FakeBackend):
    """Kills its worker thread (a BaseException, as a misbehaving extension might raise) once."""

    def __init__(self) -> None:
        super().__init__()
        self.died = False

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        if not self.died:
            self.died = True
            raise SystemExit("backend killed its thread")
        return super().score(batch)


def score_after_the_first_worker_dies(batcher: DynamicBatcher) -> list[float]:
    """Start `batcher` (over a DyingBackend), check that the first pass fails with WorkerDied, and return
    the scores of a second request, which the replacement worker runs; the batcher is closed after."""
    first = batcher.submit([pair(10, salt=1)], far_deadline())
    batcher.start()
    try:
        with pytest.raises(WorkerDied):
            first.futures[0].result(timeout=30)
        return results(batcher.submit([pair(11, salt=2)], far_deadline()).futures)
    finally:
        batcher.close()


def test_a_dead_worker_settles_its_batch_and_is_replaced() -> None:
    batcher = DynamicBatcher(DyingBackend(), config(max_batch_size=1))
    assert score_after_the_first_worker_dies(batcher) == pytest.approx([reference_score(pair(11, salt=2))])
    assert batcher.worker_restarts == 1


def test_close_drains_or_refuses() -> None:
    drained = DynamicBatcher(FakeBackend(), config())
    kept = drained.submit([pair(10, salt=i) for i in range(5)], far_deadline())
    drained.start()
    drained.close(drain=True)
    assert len(results(kept.futures)) == 5

    refused = DynamicBatcher(FakeBackend(), config())
    dropped = refused.submit([pair(10, salt=i) for i in range(5)], far_deadline())
    refused.close(drain=False)
    for future in dropped.futures:
        with pytest.raises(BatcherClosed):
            future.result(timeout=30)
    with pytest.raises(BatcherClosed):
        refused.reserve(1, 10, far_deadline())


class NiceRecordingBackend(DyingBackend):
    """Records the niceness of each thread that runs a pass (and, like DyingBackend, kills the first one)."""

    def __init__(self) -> None:
        super().__init__()
        self.niceness: list[int] = []

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().score(batch)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is a Linux scheduler feature")
def test_workers_run_below_the_process_priority_and_a_replaced_worker_is_not_lowered_twice() -> None:
    process_nice = os.getpriority(os.PRIO_PROCESS, os.getpid())
    if process_nice + 3 > 19:
        pytest.skip(f"the test process already runs at niceness {process_nice}")
    backend = NiceRecordingBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=1, backend_worker_nice=3))
    score_after_the_first_worker_dies(batcher)
    # The first pass ran in the original worker, the second in its replacement (spawned by the dying worker,
    # whose niceness it inherits): both at the process's level plus 3, and the submitting thread untouched.
    assert batcher.worker_restarts == 1
    assert backend.niceness == [process_nice + 3, process_nice + 3]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process_nice


class SleepingBackend(FakeBackend):
    """Each pass sleeps `pass_s` (at least that long: the bound the ordering tests rely on), then scores."""

    def __init__(self, pass_s: float) -> None:
        super().__init__()
        self.pass_s = pass_s

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        time.sleep(self.pass_s)  # the simulated forward pass
        return super().score(batch)


def test_interactive_pairs_run_before_bulk_pairs_queued_earlier() -> None:
    backend = BlockingBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=1, bulk_max_pass_over_ms=60_000))
    backend.gate.clear()
    batcher.start()
    try:
        running = batcher.submit([pair(10, salt=0)], far_deadline(), "bulk")
        backend.wait_entered(1)  # the only worker is inside this bulk pass
        bulk = batcher.submit([pair(20, salt=i) for i in range(5)], far_deadline(), "bulk")
        interactive = batcher.submit([pair(30, salt=i) for i in range(2)], far_deadline(), "interactive")
        backend.gate.set()
        results([*running.futures, *bulk.futures, *interactive.futures])
    finally:
        batcher.close()
    assert [b[0].num_tokens for b in backend.batches] == [10, 30, 30, 20, 20, 20, 20, 20]


def test_a_bulk_batch_running_does_not_count_as_passing_bulk_over() -> None:
    # With no pass-over allowance at all, bulk gets every other batch while interactive pairs wait; but a
    # bulk batch that has just run, however long it took, was not bulk being passed over, so the pick after
    # it is an interactive pair's (a bound counted from the lane's last batch start would make bulk overdue
    # the moment any batch longer than the bound finished, and interactive pairs would wait for all of bulk).
    backend = BlockingBackend()
    batcher = DynamicBatcher(backend, config(max_batch_size=1, bulk_max_pass_over_ms=0))
    backend.gate.clear()
    batcher.start()
    try:
        running = batcher.submit([pair(10, salt=0)], far_deadline(), "bulk")
        backend.wait_entered(1)
        bulk = batcher.submit([pair(20, salt=i) for i in range(3)], far_deadline(), "bulk")
        interactive = batcher.submit([pair(30, salt=i) for i in range(3)], far_deadline(), "interactive")
        backend.gate.set()
        results([*running.futures, *bulk.futures, *interactive.futures])
    finally:
        batcher.close()
    assert [b[0].num_tokens for b in backend.batches] == [10, 30, 20, 30, 20, 30, 20]


def test_bulk_is_not_starved_by_a_flood_of_interactive_pairs() -> None:
    pass_s, pass_over_ms = 0.01, 200.0
    backend = SleepingBackend(pass_s)
    batcher = DynamicBatcher(backend, config(max_batch_size=1, bulk_max_pass_over_ms=pass_over_ms))
    flood = batcher.submit([pair(30, salt=i) for i in range(100)], far_deadline(), "interactive")
    bulk = batcher.submit([pair(20)], far_deadline(), "bulk")
    batcher.start()
    try:
        results(bulk.futures)
        assert not all(f.done() for f in flood.futures), "the bulk pair waited for the whole flood"
        results(flood.futures)
    finally:
        batcher.close()
    position = [b[0].num_tokens for b in backend.batches].index(20)
    # Every pass takes at least pass_s, so at most pass_over_ms / pass_s interactive passes can start before
    # the bulk pair is overdue, plus the one running when it becomes so.
    assert 1 <= position <= pass_over_ms / 1000 / pass_s + 1


def test_admission_refuses_a_request_whose_deadline_the_work_ahead_makes_unreachable() -> None:
    # Unmeasured, the drain rate is the cost model's for single pairs of 128 tokens: here 1,000 tokens/s.
    slow = CostModel.assumed(overhead_s=0.0, per_token_s=1e-3)
    batcher = DynamicBatcher(FakeBackend(), config(admission_deadline_fraction=0.8), cost_model=slow)
    assert batcher.drain_tokens_per_s() == pytest.approx(1000.0)
    batcher.submit([pair(100, salt=i) for i in range(50)], far_deadline(), "bulk")  # 5,000 tokens: 5 s of work
    now = time.monotonic()
    with pytest.raises(DeadlineUnreachable) as refused:
        batcher.reserve(1, 100, now + 2.0, "bulk")
    # It would finish in 5.1 s, and may take 0.8 x 2 s: room comes back after about 3.5 s of draining.
    assert refused.value.retry_after_s == pytest.approx(3.5, abs=0.05)
    with batcher.reserve(1, 100, now + 10.0, "bulk") as admitted:
        assert admitted.predicted_wait_s == pytest.approx(5.0)
    # The bulk work is not ahead of an interactive request: only its own lane's (empty) queue is.
    with batcher.reserve(1, 100, now + 2.0, "interactive") as interactive:
        assert interactive.predicted_wait_s == 0.0
    batcher.close(drain=False)


def test_each_lane_has_its_own_bounds() -> None:
    batcher = DynamicBatcher(FakeBackend(), config(max_queue_items=4, interactive_max_queue_items=2))
    batcher.submit([pair(10, salt=i) for i in range(4)], far_deadline(), "bulk")
    with pytest.raises(QueueFull):
        batcher.reserve(1, 10, far_deadline(), "bulk")
    # A full bulk lane leaves the interactive lane its room.
    first = batcher.reserve(2, 20, far_deadline(), "interactive")
    with pytest.raises(QueueFull):
        batcher.reserve(1, 10, far_deadline(), "interactive")
    first.submit([pair(10), pair(11)])
    assert batcher.lane_queued_items("interactive") == 2 and batcher.lane_queued_items("bulk") == 4
    batcher.close(drain=False)


def test_the_drain_rate_is_measured_from_the_batches_that_ran() -> None:
    pass_s, tokens = 0.005, 50
    optimistic = CostModel.assumed(overhead_s=0.0, per_token_s=1e-9)  # a million times too fast
    batcher = DynamicBatcher(SleepingBackend(pass_s), config(max_batch_size=1), cost_model=optimistic)
    # The cost model's guess counts as one batch's evidence; a hundred real batches leave 0.9 ** 100 of it.
    ticket = batcher.submit([pair(tokens, salt=i) for i in range(100)], far_deadline())
    batcher.start()
    try:
        results(ticket.futures)
    finally:
        batcher.close()
    # A pass takes at least pass_s, so one worker drains at most tokens / pass_s; the overheads of a cycle
    # (planning, settling) make it a little less, never more.
    assert 0.2 * tokens / pass_s < batcher.drain_tokens_per_s() <= tokens / pass_s


def test_a_lane_is_predicted_the_share_of_the_workers_time_the_lanes_before_it_leave() -> None:
    batcher = DynamicBatcher(SleepingBackend(0.005), config(max_batch_size=1))
    assert batcher.lane_share("bulk") == 1.0  # nothing measured yet
    interactive = batcher.submit([pair(20, salt=i) for i in range(10)], far_deadline(), "interactive")
    batcher.start()
    try:
        results(interactive.futures)
        # Every recent batch was interactive: bulk is predicted the floor share, its first lane all of it.
        assert batcher.lane_share("interactive") == 1.0
        assert batcher.lane_share("bulk") == pytest.approx(0.05)
        bulk = batcher.submit([pair(20, salt=i) for i in range(30)], far_deadline(), "bulk")
        results(bulk.futures)
    finally:
        batcher.close()
    # Averages of seconds per batch (weight 0.1; the passes are alike): ten interactive, then thirty bulk.
    interactive_avg = (1 - 0.9**10) * 0.9**30
    bulk_avg = 1 - 0.9**30
    expected = 1 - interactive_avg / (interactive_avg + bulk_avg)
    assert batcher.lane_share("bulk") == pytest.approx(expected, abs=0.01)
