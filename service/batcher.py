"""A dynamic batcher: merges tokenized pairs from concurrent requests into cost-efficient batches.

It knows nothing of HTTP, tokenizers, torch or onnxruntime: it takes `EncodedPair`s and a `Backend`, and
hands back one `concurrent.futures.Future` per pair.

- Lanes: each pair queues in one lane (`service.lanes`: interactive, then bulk), each lane a queue of its
  own with its own bounds. `_select_lane` alone decides which lane the next batch comes from: the first
  lane that has pairs, unless a later lane has been passed over (a batch of another lane started while it
  had pairs, and none of its own since) for longer than its `max_pass_over_ms` (then that lane), so
  interactive pairs go first and bulk is never starved. Time a lane's own batch runs is not passing it over.
- Admission: `reserve(items, tokens, deadline, lane)` refuses work when the lane, counted in pairs and in
  tokens, would overflow (QueueFull), and when the request is predicted to finish after its deadline
  (DeadlineUnreachable): the tokens queued, reserved and running ahead of it (in its lane and the lanes
  served before it) plus its own, over the drain rate its lane gets, must fit in `deadline_fraction` of
  the time left. The drain rate is measured (`drain_tokens_per_s`: real tokens per second of a worker's
  whole cycle, from coming back for work to settling the batch, times the workers); a lane gets the share
  of the workers' time that the lanes before it did not take in recent batches (`lane_share`), since
  pairs that arrive in those lanes later still go first. Both refusals say when to come back (`retry_after_s`,
  from the same estimate). Callers reserve before tokenizing, with an estimate, so a refused request
  costs nothing; a request always fits when nothing is ahead of it, so none is refused forever. The
  `Reservation` is a context manager that holds the room, queues the pairs (`submit`), and on exit gives
  back what is left: unused room, pairs that have not started.
- Batch formation: a free worker takes the oldest queued pair of the selected lane and adds the queued
  pairs closest to it in length, one by one, within `max_batch_size` and `max_batch_tokens` (rows x
  longest). Of these candidate batches it runs the one with the highest predicted throughput (pairs per
  second under the `CostModel`), growing it only where that beats the size chosen so far by 5%, so a CPU runs small,
  length-homogeneous batches and a GPU large ones. When the queue holds fewer pairs than would pay, it
  waits up to `max_wait_ms` (from the oldest pair's arrival) for more. A batch holds pairs of one lane.
- Groups (with `share_prompts`, on a backend that `shares_prefixes`): pairs that begin with the same
  tokens form a group, within and across requests. Each queued pair has a group key: the hash of its
  prompt's ids when it knows them (`prompt_tokens`), else of its first `min_shared_tokens` ids (whole
  texts). A batch seeded by a keyed pair takes first the queued pairs of its key that share at least
  `min_shared_tokens` leading ids with it, longest common prefix first (as a radix cache would match),
  costed as a shared-prefix batch: the prefix once, plus each row's own tokens attending to it. The
  token budget counts each row's attended prefix too, so a large group cannot exhaust memory. The
  backend runs the exact plan `models.shared_prefix.plan_groups` makes of the batch, so grouping never
  changes a score; the grouped rows' own tokens run in the passes `split_row_passes` finds cheapest under
  the cost model (one padded pass on a GPU; rows of very different lengths apart on a CPU). A keyed pair
  alone in the queue may wait up to `max_wait_ms` for its group.
- Splitting: a request's pairs are independent queue entries; they may run in different batches, and
  the request's futures stay in request order.
- Settling: every future is settled exactly once: its score, the batch's exception (only the futures of
  that batch), ItemExpired past its deadline, or BatcherClosed at shutdown. Cancelled futures (the
  caller gave up) are dropped before a batch runs. A backend that returns the wrong number of scores
  fails its whole batch.
- Outputs: a pair of a one-output model settles with its `score`; a pair of a K-output head (the
  backend's `score` returns (B, K)) with its row in `values`; an `EncodedSteps` item (a process reward
  model's) runs through the backend's `score_steps` and settles with its steps' logits in `values`.
  A batch holds items of one class only.
- Workers: `workers` threads each form a batch and call `backend.score`; a worker thread that dies is
  replaced, and the death is counted. With `worker_nice`, they run below the process's priority (Linux).

Thread-safety: every public method may be called from any thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from models.formatting import EncodedPair
from models.shared_prefix import PlanTokens, SharedGroup, plan_groups, plan_tokens, split_row_passes
from models.steps import EncodedSteps
from service.backends.base import Backend, PrefixSharingBackend, StepBackend
from service.cost_model import CostModel
from service.lanes import LANES, Lane

logger = logging.getLogger("rmserve.batcher")

# Pairs considered when forming a batch: the oldest few batches' worth. A deep window let a request's
# pairs be spread over many batches beside newer ones, so multi-pair requests all finished late together.
_PLAN_WINDOW_BATCHES = 4
# A larger batch must beat the predicted pairs/s of the size chosen so far by this factor. A batch
# that is barely faster per pair holds all its pairs until its slowest is done and takes work other
# workers could run at once: where batching does not pay (a CPU at long lengths, an int8 model that runs
# one pair per run, so cost is linear in rows) noise in the cost table made the planner form 8-12 pair
# batches, one worker's serial work while the queue's other pairs waited.
_LARGER_BATCH_MIN_GAIN = 1.05
# Share of a new batch in the drain-rate averages: follows a change of load in about ten batches.
_DRAIN_RATE_WEIGHT = 0.1
# The least share of the drain rate a lane is predicted to get (the pass-over bound guarantees bulk some).
_MIN_LANE_SHARE = 0.05
# The drain rate's averages start from the cost model's single pair of this length (the slowest way to run
# pairs, so the first admissions err on the side of refusing), as one batch's worth of evidence: a first
# batch that stalls then moves the rate by a tenth, not to the stall's.
_INITIAL_RATE_LENGTH = 128
_MAX_RETRY_AFTER_S = 600.0


def lower_this_thread_priority(increment: int) -> None:
    """Set the calling thread's niceness to the process's plus `increment` (capped at 19); Linux only.

    Linux schedules each thread on its own, so a thread id renices that thread alone; elsewhere the call
    would renice the whole process, so nothing is done. The level is absolute, not added to the thread's
    own: a worker restarted from a dying worker inherits that worker's niceness. On 2 CPUs, with two
    worker threads running forward passes, the event loop waited for a core behind them: /health p99 30-40
    ms at 128 single-pair onnx fp32 clients, 10-13 ms with the workers at +5, for the same throughput.
    """
    if increment <= 0 or sys.platform != "linux":
        return
    try:
        level = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + increment)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), level)
    except OSError as exc:
        logger.warning("could not lower the priority of backend worker threads: %s", exc)


class BatcherError(RuntimeError):
    """Base of the batcher's own refusals."""


class Refused(BatcherError):
    """Admission refused the request; `retry_after_s` estimates when it would be admitted."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueFull(Refused):
    """The request's lane has no room for it."""


class DeadlineUnreachable(Refused):
    """The work ahead of the request would not let it finish before its deadline."""


class ItemExpired(BatcherError):
    """The pair's deadline passed while it was queued; it was never run."""


class BatcherClosed(BatcherError):
    """The batcher is shut down (or the pair was queued when it shut down without draining)."""


class WorkerDied(BatcherError):
    """The worker thread running this pair's batch died."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The score of one pair, with where its time went (seconds).

    `score` is the scalar output; NaN when the item's output is a vector, which `values` then holds:
    float32 (K,) for a K-output head, (scored steps, 2) logits for an `EncodedSteps` item.
    """

    score: float
    queue_s: float  # from submit to the start of its batch
    inference_s: float  # the forward pass of its batch
    batch_size: int
    batch_id: int  # distinguishes the batches of one request (a request may be split across several)
    values: np.ndarray | None = None
    shared_prefix_tokens: int = 0  # leading tokens computed once for this pair's group (0: scored alone)


class BatchObserver(Protocol):
    """Callbacks for metrics; called from worker threads and submitters, must be cheap and thread-safe."""

    def on_queue(self, lane: Lane, items: int, tokens: int) -> None: ...

    def on_batch(
        self, lane: Lane, size: int, real_tokens: int, padded_tokens: int, forward_s: float, waits_s: list[float]
    ) -> None: ...

    def on_dropped(self, reason: str, count: int, lane: Lane) -> None: ...

    def on_worker_restart(self) -> None: ...

    def on_prompt_tokens(self, computed: int, saved: int, shared_pairs: int) -> None: ...


class NullObserver:
    def on_queue(self, lane: Lane, items: int, tokens: int) -> None:
        pass

    def on_batch(
        self, lane: Lane, size: int, real_tokens: int, padded_tokens: int, forward_s: float, waits_s: list[float]
    ) -> None:
        pass

    def on_dropped(self, reason: str, count: int, lane: Lane) -> None:
        pass

    def on_worker_restart(self) -> None:
        pass

    def on_prompt_tokens(self, computed: int, saved: int, shared_pairs: int) -> None:
        pass


@dataclass(frozen=True)
class LaneConfig:
    """One lane's bounds. `max_pass_over_ms`: the longest the lane may have pairs and no batch while the
    lanes before it are served (not used for the first lane, which is never passed over)."""

    max_queue_items: int
    max_queue_tokens: int
    max_pass_over_ms: float


@dataclass(frozen=True)
class BatcherConfig:
    """The batcher's knobs. No defaults here: `Settings.batcher_config()` builds it, so each default is
    stated once (in `service.settings`)."""

    max_batch_size: int
    max_batch_tokens: int
    max_wait_ms: float
    workers: int
    worker_nice: int  # niceness added to each worker thread on Linux (see `lower_this_thread_priority`)
    lanes: Mapping[Lane, LaneConfig]  # one per lane of `service.lanes.LANES`
    deadline_fraction: float  # share of a request's time left that its predicted finish may take
    share_prompts: bool  # group pairs that begin with the same tokens (on a backend that can share)
    min_shared_tokens: int  # a shorter common prefix is not worth a separate prefix pass


@dataclass(eq=False)
class _Item:
    pair: EncodedPair
    future: Future[ItemResult]
    deadline: float  # time.monotonic() seconds
    enqueued_at: float
    lane: Lane
    num_tokens: int = field(init=False)
    queued: bool = True
    group_key: int | None = None  # see `DynamicBatcher._group_key`; None: this pair cannot share
    ids: np.ndarray | None = None  # input ids as an array (keyed pairs), to compare prefixes quickly
    common_with_seed: tuple[_Item | None, int] = (None, 0)  # (a seed, leading ids in common with it), a cache

    def __post_init__(self) -> None:
        self.num_tokens = self.pair.num_tokens


@dataclass(frozen=True, slots=True)
class _Shape:
    """A candidate batch as the cost model sees it: `shared_rows` of the seed's group (sharing `prefix`
    leading tokens, the longest row `shared_longest` tokens) and `plain_rows` scored whole."""

    prefix: int = 0
    shared_rows: int = 0
    shared_longest: int = 0
    plain_rows: int = 0
    plain_longest: int = 0

    @property
    def rows(self) -> int:
        return self.shared_rows + self.plain_rows

    @property
    def shares(self) -> bool:
        return self.shared_rows >= 2

    def plus(self, num_tokens: int, shared: bool, common: int = 0) -> _Shape:
        """With one more row; a shared row has `common` leading tokens in common with the seed."""
        if shared:
            return replace(
                self,
                prefix=min(self.prefix, common),
                shared_rows=self.shared_rows + 1,
                shared_longest=max(self.shared_longest, num_tokens),
            )
        return replace(self, plain_rows=self.plain_rows + 1, plain_longest=max(self.plain_longest, num_tokens))

    def tokens(self) -> int:
        """Budget tokens: the prefix pass, and each shared row's own tokens plus the prefix it attends to."""
        if not self.shares:
            return self.rows * max(self.shared_longest, self.plain_longest)
        return self.prefix + self.shared_rows * self.shared_longest + self.plain_rows * self.plain_longest

    def cost_s(self, model: CostModel) -> float:
        if not self.shares:
            return model.predict_s(self.rows, max(self.shared_longest, self.plain_longest))
        rest = max(1, self.shared_longest - self.prefix)
        cost = model.predict_shared_s(1, self.prefix, [(self.shared_rows, rest)])
        return cost + (model.predict_s(self.plain_rows, self.plain_longest) if self.plain_rows else 0.0)


@dataclass(eq=False)
class _LaneQueue:
    """One lane's queue (arrival order; entries leave when batched, cancelled or expired) and its counts."""

    name: Lane
    config: LaneConfig
    items: list[_Item] = field(default_factory=list)
    queued_items: int = 0
    queued_tokens: int = 0
    reserved_items: int = 0
    reserved_tokens: int = 0
    # Monotonic time since which batches of other lanes have started while this lane had pairs and got none
    # (None: not passed over). Its own batches running do not count, or a batch longer than the bound would
    # make the lane overdue the moment it finished, and every interactive pair would wait behind it.
    passed_over_since: float | None = None


@dataclass(eq=False)
class Ticket:
    """One request's queued pairs: `futures` in request order."""

    futures: list[Future[ItemResult]]
    _items: list[_Item]


class Reservation:
    """One request's hold on the queue, from admission to the end of its wait: the room reserved for its
    pairs while they are tokenized, then its queued pairs. A context manager (`with batcher.reserve(...) as
    reservation:`); on exit, however the block ends, the room is given back if nothing was submitted and
    submitted pairs that have not started running are dropped (the request has its scores, or gave up).

    Thread-safety: one request uses it (from one task); the batcher's lock guards the shared counts.
    """

    def __init__(
        self, batcher: DynamicBatcher, lane: Lane, items: int, tokens: int, deadline: float, predicted_wait_s: float
    ) -> None:
        self._batcher = batcher
        self.lane = lane
        self.items = items
        self.tokens = tokens
        self.deadline = deadline
        self.predicted_wait_s = predicted_wait_s  # admission's estimate of the wait before its pairs run
        self.held = True  # the reserved room still counts in the queue's bounds
        self.ticket: Ticket | None = None

    def submit(self, pairs: Sequence[EncodedPair]) -> Ticket:
        """Queue the request's pairs (at most once); the estimate reserved for them is replaced by their real
        token counts. Raises BatcherClosed when the batcher is shutting down."""
        if self.ticket is not None:
            raise RuntimeError("a reservation is submitted once")
        self.ticket = self._batcher._enqueue(pairs, self.deadline, self.lane, self)
        return self.ticket

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._batcher._settle_reservation(self)


class DynamicBatcher:
    """See the module docstring. Start the workers with `start()`; stop with `close()`."""

    def __init__(
        self,
        backend: Backend,
        config: BatcherConfig,
        cost_model: CostModel | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.cost_model = cost_model or CostModel.assumed()
        self.observer: BatchObserver = observer or NullObserver()
        self._cond = threading.Condition()
        self._lanes = {name: _LaneQueue(name, config.lanes[name]) for name in LANES}  # in service order
        self._running_tokens = 0  # real tokens of the batches in the backend now
        self._closing = False
        self._drain = True
        self._threads: list[threading.Thread] = []
        self._busy_since: dict[int, float] = {}
        self._worker_restarts = 0
        self._batch_ids = itertools.count()
        # The drain rate: averages of a worker's real tokens per batch and of its seconds per batch cycle.
        self._cycle_tokens = float(_INITIAL_RATE_LENGTH)
        self._cycle_s = self.cost_model.predict_s(1, _INITIAL_RATE_LENGTH)
        self._lane_seconds = dict.fromkeys(LANES, 0.0)  # average cycle seconds per batch that went to each lane
        self.sharing = bool(
            config.share_prompts and isinstance(backend, PrefixSharingBackend) and backend.shares_prefixes
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        with self._cond:
            for index in range(self.config.workers):
                self._spawn(index)

    def _spawn(self, index: int) -> None:
        thread = threading.Thread(target=self._worker_main, args=(index,), name=f"rmserve-worker-{index}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self, drain: bool = True, timeout_s: float | None = None) -> None:
        """Stop the workers. With `drain`, queued pairs run first; otherwise they fail with BatcherClosed."""
        with self._cond:
            self._closing = True
            self._drain = drain
            if not drain:
                self._fail_queued(BatcherClosed("the server is shutting down"))
            self._cond.notify_all()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in list(self._threads):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._fail_queued(BatcherClosed("the server shut down before this pair ran"))

    # ----------------------------------------------------------------- state

    @property
    def queued_items(self) -> int:
        with self._cond:
            return sum(lane.queued_items for lane in self._lanes.values())

    @property
    def queued_tokens(self) -> int:
        with self._cond:
            return sum(lane.queued_tokens for lane in self._lanes.values())

    def lane_queued_items(self, lane: Lane) -> int:
        with self._cond:
            return self._lanes[lane].queued_items

    def drain_tokens_per_s(self) -> float:
        """The measured drain rate: real tokens per second the workers together finish while busy."""
        with self._cond:
            return self._drain_rate()

    def lane_share(self, lane: Lane) -> float:
        """The share of the drain rate `lane` is predicted to get: the workers' time that recent batches of
        the lanes before it left (1 for the first lane; at least 5%). Time, not tokens: a single gate pair
        costs far more per token than a full bulk batch."""
        with self._cond:
            return self._lane_share(lane)

    def _drain_rate(self) -> float:
        return self.config.workers * self._cycle_tokens / self._cycle_s

    def _lane_share(self, lane: Lane) -> float:
        total = sum(self._lane_seconds.values())
        if total <= 0:
            return 1.0
        earlier = 0.0
        for name in LANES:
            if name == lane:
                break
            earlier += self._lane_seconds[name]
        return max(_MIN_LANE_SHARE, 1.0 - earlier / total)

    @property
    def worker_restarts(self) -> int:
        with self._cond:
            return self._worker_restarts

    def busy_workers(self) -> int:
        with self._cond:
            return len(self._busy_since)

    def longest_pass_s(self) -> float:
        """Seconds the longest-running current forward pass has taken so far (0 when idle)."""
        with self._cond:
            if not self._busy_since:
                return 0.0
            return time.monotonic() - min(self._busy_since.values())

    def alive_workers(self) -> int:
        with self._cond:
            return sum(1 for t in self._threads if t.is_alive())

    # ----------------------------------------------------------------- admission and submission

    def _tokens_ahead(self, lane: Lane) -> int:
        """Tokens that run before a new request of `lane`: queued and reserved in it and in the lanes served
        before it, and the batches running now."""
        ahead = self._running_tokens
        for queue in self._lanes.values():
            ahead += queue.queued_tokens + queue.reserved_tokens
            if queue.name == lane:
                return ahead
        raise KeyError(lane)

    def reserve(self, items: int, tokens: int, deadline: float, lane: Lane = "bulk") -> Reservation:
        """Reserve room in `lane` for `items` pairs of about `tokens` tokens that must run before the
        monotonic time `deadline`, or raise QueueFull, DeadlineUnreachable (or BatcherClosed). Use the
        result as a context manager. See the module docstring for the estimate.
        """
        with self._cond:
            if self._closing:
                raise BatcherClosed("the server is shutting down")
            queue = self._lanes[lane]
            bounds = queue.config
            rate = self._drain_rate() * self._lane_share(lane)
            lane_items = queue.queued_items + queue.reserved_items
            lane_tokens = queue.queued_tokens + queue.reserved_tokens
            if lane_items and (
                lane_items + items > bounds.max_queue_items or lane_tokens + tokens > bounds.max_queue_tokens
            ):
                self.observer.on_dropped("queue_full", items, lane)
                # Room comes back as the lane drains its excess (at most the whole lane).
                excess = max(
                    (lane_items + items - bounds.max_queue_items) / lane_items,
                    (lane_tokens + tokens - bounds.max_queue_tokens) / max(1, lane_tokens),
                )
                raise QueueFull(
                    f"the {lane} queue is full ({lane_items} pairs, {lane_tokens} tokens)",
                    _retry_after_s(min(1.0, excess) * self._tokens_ahead(lane) / rate),
                )
            ahead = self._tokens_ahead(lane)
            finish_s = (ahead + tokens) / rate
            budget_s = (deadline - time.monotonic()) * self.config.deadline_fraction
            if ahead and finish_s > budget_s:
                self.observer.on_dropped("deadline_unreachable", items, lane)
                raise DeadlineUnreachable(
                    f"it would finish in about {finish_s:.1f} s, after its deadline "
                    f"({ahead} tokens ahead of it at {rate:.0f} tokens/s)",
                    _retry_after_s(finish_s - budget_s),
                )
            queue.reserved_items += items
            queue.reserved_tokens += tokens
            return Reservation(self, lane, items, tokens, deadline, ahead / rate)

    def _release(self, reservation: Reservation) -> None:
        """Give back a reservation's room (called with the lock held; once)."""
        if reservation.held:
            reservation.held = False
            queue = self._lanes[reservation.lane]
            queue.reserved_items -= reservation.items
            queue.reserved_tokens -= reservation.tokens

    def _settle_reservation(self, reservation: Reservation) -> None:
        with self._cond:
            self._release(reservation)
        if reservation.ticket is not None:
            self.cancel(reservation.ticket)

    def submit(self, pairs: Sequence[EncodedPair], deadline: float, lane: Lane = "bulk") -> Ticket:
        """Queue `pairs` in `lane` (to run before the monotonic time `deadline`) without a reservation, so
        without admission; returns their futures in order. Requests go through `reserve`."""
        return self._enqueue(pairs, deadline, lane, None)

    def _enqueue(
        self, pairs: Sequence[EncodedPair], deadline: float, lane: Lane, reservation: Reservation | None
    ) -> Ticket:
        now = time.monotonic()
        items = [_Item(pair, Future(), deadline, now, lane) for pair in pairs]
        for item in items:
            item.group_key = self._group_key(item.pair)
            if item.group_key is not None:
                item.ids = np.asarray(item.pair.input_ids, dtype=np.int64)
        with self._cond:
            if reservation is not None:
                self._release(reservation)
            if self._closing:
                raise BatcherClosed("the server is shutting down")
            queue = self._lanes[lane]
            if not queue.items:
                queue.passed_over_since = None
            queue.items.extend(items)
            queue.queued_items += len(items)
            queue.queued_tokens += sum(item.num_tokens for item in items)
            self._report(queue)
            self._cond.notify_all()
        return Ticket([item.future for item in items], items)

    def _report(self, queue: _LaneQueue) -> None:
        self.observer.on_queue(queue.name, queue.queued_items, queue.queued_tokens)

    # ----------------------------------------------------------------- groups

    def _group_key(self, pair: EncodedPair) -> int | None:
        """The hash of the ids a pair's group begins with: its prompt's, when it knows them, else its first
        `min_shared_tokens` (None: it cannot share). Computed before taking the lock."""
        minimum = self.config.min_shared_tokens
        if not self.sharing or pair.num_tokens <= minimum or isinstance(pair, EncodedSteps):
            return None
        return hash(pair.input_ids[: max(minimum, pair.prompt_tokens)])

    @staticmethod
    def _common_with(seed: _Item, item: _Item) -> int:
        """Leading ids `item` has in common with `seed` (cached on `item` while `seed` is the seed), capped so
        that both keep a token of their own."""
        if item.common_with_seed[0] is not seed:
            assert seed.ids is not None and item.ids is not None
            n = min(seed.num_tokens, item.num_tokens) - 1
            differ = np.flatnonzero(seed.ids[:n] != item.ids[:n])
            item.common_with_seed = (seed, int(differ[0]) if differ.size else n)
        return item.common_with_seed[1]

    def cancel(self, ticket: Ticket) -> None:
        """The caller gave up: drop its pairs that have not started running, so they free the queue."""
        with self._cond:
            removed: dict[Lane, int] = {}
            for item in ticket._items:
                if item.queued and item.future.cancel():
                    self._unqueue(item)
                    removed[item.lane] = removed.get(item.lane, 0) + 1
            for lane, count in removed.items():
                queue = self._lanes[lane]
                queue.items = [item for item in queue.items if item.queued]
                self.observer.on_dropped("cancelled", count, lane)
                self._report(queue)

    def _unqueue(self, item: _Item) -> None:
        item.queued = False
        queue = self._lanes[item.lane]
        queue.queued_items -= 1
        queue.queued_tokens -= item.num_tokens

    def _fail_queued(self, error: Exception) -> None:
        for queue in self._lanes.values():
            for item in queue.items:
                if item.queued:
                    self._unqueue(item)
                    if item.future.set_running_or_notify_cancel():
                        item.future.set_exception(error)
            queue.items = []
            self._report(queue)

    # ----------------------------------------------------------------- batch formation

    def _prune(self, now: float) -> None:
        """Drop cancelled pairs and fail expired ones, in every lane (called with the lock held)."""
        for queue in self._lanes.values():
            expired = cancelled = 0
            keep: list[_Item] = []
            for item in queue.items:
                if not item.queued:
                    continue
                if item.future.cancelled():
                    self._unqueue(item)
                    cancelled += 1
                elif now >= item.deadline:
                    self._unqueue(item)
                    if item.future.set_running_or_notify_cancel():
                        item.future.set_exception(ItemExpired("the request's deadline passed while it was queued"))
                    expired += 1
                else:
                    keep.append(item)
            queue.items = keep
            if expired:
                self.observer.on_dropped("deadline", expired, queue.name)
            if cancelled:
                self.observer.on_dropped("cancelled", cancelled, queue.name)
            if expired or cancelled:
                self._report(queue)

    def _select_lane(self, now: float) -> _LaneQueue | None:
        """The lane the next batch comes from (None when every lane is empty): the first lane with pairs,
        unless a later lane with pairs has been passed over for longer than its `max_pass_over_ms`; then the
        one of those passed over longest. The one place where lanes are ordered."""
        waiting = [queue for queue in self._lanes.values() if queue.items]
        if not waiting:
            return None
        overdue = [
            (q.passed_over_since, q)
            for q in waiting[1:]
            if q.passed_over_since is not None and (now - q.passed_over_since) * 1000.0 >= q.config.max_pass_over_ms
        ]
        if overdue:
            return min(overdue, key=lambda since_queue: since_queue[0])[1]
        return waiting[0]

    def _start_pass_over_clocks(self, served: _LaneQueue, now: float) -> None:
        """A batch of `served` starts at `now`: its clock stops, and every other lane with pairs is passed over
        from now on unless it already was."""
        for queue in self._lanes.values():
            if queue is served or not queue.items:
                queue.passed_over_since = None
            elif queue.passed_over_since is None:
                queue.passed_over_since = now

    def _plan(self, queue: list[_Item], now: float) -> tuple[list[_Item], bool]:
        """The best batch seeded by the oldest pair of `queue`, and whether waiting for more pairs could
        improve it."""
        cfg = self.config
        seed = queue[0]
        # The seed's group first (longest common prefix first), then the closest lengths among the oldest
        # pairs (a bounded window keeps planning cheap under a backlog). A batch holds one class of item:
        # pairs, or a process reward model's steps.
        kind = type(seed.pair)
        window = [it for it in queue[1 : _PLAN_WINDOW_BATCHES * cfg.max_batch_size] if type(it.pair) is kind]
        key = seed.group_key
        kin: list[tuple[int, _Item]] = []
        if key is not None:
            matches = [(self._common_with(seed, it), it) for it in window if it.group_key == key]
            kin = [(n, it) for n, it in matches if n >= cfg.min_shared_tokens]
            kin.sort(key=lambda pair: -pair[0])
            del kin[cfg.max_batch_size - 1 :]
        taken = {id(it) for _, it in kin}
        rest = [it for it in window if id(it) not in taken] if kin else window
        closest = heapq.nsmallest(
            cfg.max_batch_size - 1 - len(kin),
            rest,
            key=lambda it: (abs(it.num_tokens - seed.num_tokens), it.enqueued_at),
        )
        others = kin + [(0, it) for it in closest]
        shape = _Shape(prefix=seed.num_tokens - 1).plus(seed.num_tokens, shared=bool(kin), common=seed.num_tokens - 1)
        chosen = [seed]
        best_rate = 1.0 / shape.cost_s(self.cost_model)
        best_size, best_shape = 1, shape
        earliest_deadline = seed.deadline
        for position, (common, item) in enumerate(others):
            if len(chosen) >= cfg.max_batch_size:
                break
            grown = shape.plus(item.num_tokens, shared=position < len(kin), common=common)
            if grown.tokens() > cfg.max_batch_tokens:
                break
            cost = grown.cost_s(self.cost_model)
            # A batch that would outlast its most urgent pair's deadline is not worth growing.
            if now + cost > min(earliest_deadline, item.deadline):
                break
            previous_cost = shape.cost_s(self.cost_model)
            chosen.append(item)
            shape = grown
            earliest_deadline = min(earliest_deadline, item.deadline)
            rate = grown.rows / cost
            # A pair of the seed's group left out would compute the prefix again in a later batch: it joins
            # while it adds less to this batch than it would cost alone.
            joins_group = position < len(kin) and best_size == grown.rows - 1
            cheaper_here = cost - previous_cost < self.cost_model.predict_s(1, item.num_tokens)
            if (joins_group and cheaper_here) or rate > best_rate * _LARGER_BATCH_MIN_GAIN:
                best_rate, best_size, best_shape = rate, grown.rows, grown
        batch = chosen[:best_size]
        took_everything = best_size == len(queue)
        # One more pair like the seed might still arrive: of its group, when it can share (a sibling on its
        # way, sharing its prompt, or for a whole text as much as the closest pair shares now).
        if kin or key is None:
            another = best_shape.plus(seed.num_tokens, shared=bool(kin), common=best_shape.prefix)
        else:
            prompt = seed.pair.prompt_tokens
            expected = prompt if prompt >= cfg.min_shared_tokens else seed.num_tokens - 1
            alone = replace(best_shape, prefix=expected, shared_rows=1, shared_longest=seed.num_tokens)
            another = replace(alone, plain_rows=best_shape.plain_rows - 1).plus(seed.num_tokens, True, expected)
        could_grow = (
            took_everything
            and best_size < cfg.max_batch_size
            and another.tokens() <= cfg.max_batch_tokens
            and another.rows / another.cost_s(self.cost_model) > best_rate * _LARGER_BATCH_MIN_GAIN
        )
        return batch, could_grow

    def _next_batch(self, worker: int) -> tuple[list[_Item], float] | None:
        """Block until a batch is ready (None when closing and, with drain, every lane is empty). Returns
        the batch and when the worker's cycle began: when it came back for work, or, if it had to wait,
        when the batch's first pair arrived."""
        ready_at = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                self._prune(now)
                lane = self._select_lane(now)
                if self._closing and (not self._drain or lane is None):
                    return None
                if lane is None:
                    self._cond.wait()
                    continue
                batch, could_grow = self._plan(lane.items, now)
                wait_until = lane.items[0].enqueued_at + self.config.max_wait_ms / 1000.0
                if could_grow and now < wait_until and not self._closing:
                    self._cond.wait(wait_until - now)
                    continue
                runnable = []
                for item in batch:
                    self._unqueue(item)
                    if item.future.set_running_or_notify_cancel():
                        runnable.append(item)
                lane.items = [item for item in lane.items if item.queued]
                self._start_pass_over_clocks(lane, now)
                self._report(lane)
                if runnable:
                    self._busy_since[worker] = now
                    self._running_tokens += sum(item.num_tokens for item in runnable)
                    return runnable, max(ready_at, min(item.enqueued_at for item in runnable))

    # ----------------------------------------------------------------- workers

    def _worker_main(self, worker: int) -> None:
        lower_this_thread_priority(self.config.worker_nice)
        try:
            while True:
                taken = self._next_batch(worker)
                if taken is None:
                    return
                batch, cycle_started = taken
                try:
                    self._run(batch, cycle_started)
                finally:
                    with self._cond:
                        self._busy_since.pop(worker, None)
                        self._running_tokens -= sum(item.num_tokens for item in batch)
        except BaseException:
            logger.exception("backend worker %d died", worker)
            with self._cond:
                if not self._closing:
                    self._worker_restarts += 1
                    self.observer.on_worker_restart()
                    self._spawn(worker)
            # Logged and replaced above; the dead thread simply ends.

    def _share_plan(self, pairs: list[EncodedPair]) -> tuple[list[SharedGroup], list[list[int]]]:
        """The batch's groups and their rows' passes (batch indices), the cheapest split the cost model sees."""
        if not self.sharing or len(pairs) < 2 or isinstance(pairs[0], EncodedSteps):
            return [], []
        groups = plan_groups(pairs, self.config.min_shared_tokens)
        if not groups:
            return [], []
        rows = [row for group in groups for row in group.rows]
        prefix_of = {row: group.prefix_tokens for group in groups for row in group.rows}
        longest_prefix = max(group.prefix_tokens for group in groups)
        passes = split_row_passes(
            [pairs[row].num_tokens - prefix_of[row] for row in rows],
            lambda count, longest: self.cost_model.predict_rows_pass_s(count, longest, longest_prefix),
        )
        return groups, [[rows[i] for i in indices] for indices in passes]

    def _observe(self, pairs: list[EncodedPair], plan: PlanTokens, forward_s: float) -> None:
        if not plan.prefix_rows:
            self.cost_model.observe(len(pairs), max(p.num_tokens for p in pairs), forward_s)
            return
        alone_s = self.cost_model.predict_s(plan.alone_rows, plan.longest_alone) if plan.alone_rows else 0.0
        self.cost_model.observe_shared(plan.prefix_rows, plan.longest_prefix, plan.row_passes, forward_s - alone_s)

    def _forward(
        self, pairs: list[EncodedPair], groups: list[SharedGroup], row_passes: list[list[int]]
    ) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
        """(scalar scores (B,), None), or (None, per-item vectors) for a K-output head or step items;
        `groups` (only for a backend that shares prefixes, which serves one-output heads) run once each,
        their rows in `row_passes`."""
        if isinstance(pairs[0], EncodedSteps):
            if not isinstance(self.backend, StepBackend):
                raise RuntimeError(f"the {self.backend.name} backend does not score steps")
            steps = [pair for pair in pairs if isinstance(pair, EncodedSteps)]
            outputs = list(self.backend.score_steps(steps))
            if len(outputs) != len(pairs) or any(
                len(out) != len(item.score_positions) for out, item in zip(outputs, steps, strict=False)
            ):
                raise RuntimeError(f"backend returned step scores of the wrong shape for a batch of {len(pairs)}")
            return None, [np.asarray(out, dtype=np.float32) for out in outputs]
        if groups:
            assert isinstance(self.backend, PrefixSharingBackend)
            raw = np.asarray(self.backend.score_shared(pairs, groups, row_passes), dtype=np.float32)
        else:
            raw = np.asarray(self.backend.score(pairs), dtype=np.float32)
        if raw.ndim == 2 and raw.shape[1] > 1:
            if raw.shape[0] != len(pairs):
                raise RuntimeError(f"backend returned {raw.shape[0]} rows for a batch of {len(pairs)}")
            return None, list(raw)
        scores = raw.reshape(-1)
        if len(scores) != len(pairs):
            raise RuntimeError(f"backend returned {len(scores)} scores for a batch of {len(pairs)}")
        return scores, None

    def _run(self, batch: list[_Item], cycle_started: float) -> None:
        started = time.monotonic()
        pairs = [item.pair for item in batch]
        settled = False
        try:
            try:
                groups, row_passes = self._share_plan(pairs)
                scores, values = self._forward(pairs, groups, row_passes)
            except Exception as exc:
                for item in batch:
                    item.future.set_exception(exc)
                settled = True
                return
            forward_s = time.monotonic() - started
            plan = plan_tokens(pairs, groups, row_passes)
            self._observe(pairs, plan, forward_s)
            waits = [started - item.enqueued_at for item in batch]
            batch_id = next(self._batch_ids)
            shared = {row: group.prefix_tokens for group in groups for row in group.rows}
            for index, (item, wait_s) in enumerate(zip(batch, waits, strict=True)):
                value = values[index] if values is not None else None
                score = float(scores[index]) if scores is not None else math.nan
                result = ItemResult(score, wait_s, forward_s, len(batch), batch_id, value, shared.get(index, 0))
                item.future.set_result(result)
            settled = True
            self._measure_drain(batch[0].lane, sum(p.num_tokens for p in pairs), time.monotonic() - cycle_started)
            self.observer.on_batch(batch[0].lane, len(batch), plan.real, plan.padded, forward_s, waits)
            self.observer.on_prompt_tokens(plan.prompt_computed, plan.prompt_saved, len(shared))
        finally:
            if not settled:
                # Only reached when something other than an Exception (SystemExit, say) escaped the pass.
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(WorkerDied("the worker running this batch died"))

    def _measure_drain(self, lane: Lane, tokens: int, cycle_s: float) -> None:
        w = _DRAIN_RATE_WEIGHT
        with self._cond:
            for name in LANES:
                self._lane_seconds[name] = (1 - w) * self._lane_seconds[name] + w * (cycle_s if name == lane else 0)
            self._cycle_tokens = (1 - w) * self._cycle_tokens + w * tokens
            self._cycle_s = (1 - w) * self._cycle_s + w * cycle_s


def _retry_after_s(wait_s: float) -> float:
    """A Retry-After from a predicted wait: at least 1 s (the header's unit), at most `_MAX_RETRY_AFTER_S`."""
    return min(_MAX_RETRY_AFTER_S, max(1.0, wait_s))
