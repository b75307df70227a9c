"""What one forward pass costs on this backend, measured at warm-up and refined while serving.

On a CPU a batch of 16 padded pairs can be slower per pair than 16 single passes, while on a GPU large
batches win by an order of magnitude; only measurement tells. `profile_backend` times `backend.score` on
a grid of (rows, padded length) shapes; `CostModel.predict_s` interpolates that table, and `observe`
nudges it toward the times of real batches so that it tracks the machine's load.

Thread-safety: `predict_s` and `observe` may be called from several threads; a lock guards the table.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from models.formatting import EncodedPair

logger = logging.getLogger("rmserve.cost")

_OBSERVE_WEIGHT = 0.1  # share of a new observation in a table cell: smooths noise, follows load in ~10 batches
_CONTEXT_LENGTH = 256  # length at which the table's quadratic (attention) term seeds the shared-prefix cost
_NEAR = math.log(1.5)  # an observation updates a cell only when within 1.5x of it in rows and in length


class CostModel:
    """Predicted seconds of one forward pass over `rows` pairs padded to `length` tokens.

    The table holds measured seconds for grid shapes. Between grid lengths the cost is interpolated
    linearly; between grid row counts likewise. Beyond the largest measured row count at a length the cost
    follows the steeper of the last measured slope and proportional growth: on a CPU the cost per pair
    rises with batch size, and holding it constant past the grid made the planner pick huge batches.
    """

    def __init__(self, table: dict[tuple[int, int], float]) -> None:
        if not table:
            raise ValueError("a cost model needs at least one measurement")
        self._lock = threading.Lock()
        self._lengths: list[int] = []
        self._rows_at: dict[int, list[int]] = {}
        self._table = dict(table)
        self._index()
        self._context_s = self._attention_s_per_pair()

    @classmethod
    def assumed(cls, overhead_s: float = 1e-3, per_token_s: float = 1e-5) -> CostModel:
        """An unmeasured model: a fixed overhead per pass plus a cost per padded token (favours full,
        length-homogeneous batches, as on a GPU)."""
        table = {
            (rows, length): overhead_s + per_token_s * rows * length for rows in (1, 1024) for length in (1, 1 << 16)
        }
        return cls(table)

    @property
    def table(self) -> dict[tuple[int, int], float]:
        with self._lock:
            return dict(self._table)

    def _at_length(self, rows: int, length: int) -> float:
        grid = self._rows_at[length]
        if rows <= grid[0]:
            return self._table[(grid[0], length)] * (rows / grid[0] if rows < grid[0] else 1.0)
        if rows >= grid[-1]:
            r1, c1 = grid[-1], self._table[(grid[-1], length)]
            slope = c1 / r1
            if len(grid) >= 2:
                r0, c0 = grid[-2], self._table[(grid[-2], length)]
                slope = max(slope, (c1 - c0) / (r1 - r0))
            return c1 + slope * (rows - r1)
        hi = bisect.bisect_left(grid, rows)
        r0, r1 = grid[hi - 1], grid[hi]
        c0, c1 = self._table[(r0, length)], self._table[(r1, length)]
        return c0 + (c1 - c0) * (rows - r0) / (r1 - r0)

    def predict_s(self, rows: int, length: int) -> float:
        """Seconds for one pass of `rows` x `length` padded tokens (always > 0)."""
        with self._lock:
            lengths = self._lengths
            if length <= lengths[0]:
                return max(self._at_length(rows, lengths[0]), 1e-9)
            if length >= lengths[-1]:
                return max(self._at_length(rows, lengths[-1]) * length / lengths[-1], 1e-9)
            hi = bisect.bisect_left(lengths, length)
            l0, l1 = lengths[hi - 1], lengths[hi]
            c0, c1 = self._at_length(rows, l0), self._at_length(rows, l1)
            return max(c0 + (c1 - c0) * (length - l0) / (l1 - l0), 1e-9)

    def _attention_s_per_pair(self) -> float:
        """Seconds per (query, key) pair of attention, seeded from the table's curvature in length at one row:
        cost(2L) - 2 cost(L) is what doubling the length adds beyond linear, 2 L^2 pairs (0 when not convex)."""
        lengths = [length for length in self._lengths if (1, length) in self._table and (1, 2 * length) in self._table]
        if not lengths:
            return 0.0
        length = min(lengths, key=lambda n: abs(n - _CONTEXT_LENGTH))
        excess = self._table[(1, 2 * length)] - 2 * self._table[(1, length)]
        return max(0.0, excess / (2 * length * length))

    def predict_rows_pass_s(self, rows: int, rest_length: int, prefix_length: int) -> float:
        """Seconds of one rows' pass of a shared-prefix batch (see `models.torch_prefix`): `rows` x
        `rest_length` padded tokens, plus their attention to a cached prefix of `prefix_length`, rows x
        rest_length x prefix_length (query, key) pairs at a learned cost per pair."""
        with self._lock:
            context_s = self._context_s
        return self.predict_s(rows, rest_length) + context_s * rows * rest_length * prefix_length

    def predict_shared_s(self, prefix_rows: int, prefix_length: int, row_passes: Sequence[tuple[int, int]]) -> float:
        """Seconds of a shared-prefix batch: the prefix pass (`prefix_rows` prefixes padded to
        `prefix_length`), then each rows' pass of `row_passes`, (rows, rest_length) each."""
        rows_s = sum(self.predict_rows_pass_s(rows, rest, prefix_length) for rows, rest in row_passes)
        return self.predict_s(prefix_rows, prefix_length) + rows_s

    def observe_shared(
        self, prefix_rows: int, prefix_length: int, row_passes: Sequence[tuple[int, int]], seconds: float
    ) -> None:
        """Fold a shared-prefix batch's measured time into the model: each part of the prediction (the
        passes' table cells and the attention to the cached prefix) moves by the measured/predicted ratio,
        as `observe` moves one cell; one time cannot tell the parts apart, so their split stays the table's."""
        parts = [(prefix_rows, prefix_length), *row_passes]
        if seconds <= 0 or len(parts) < 2 or min(min(part) for part in parts) < 1:
            return
        ratio = seconds / self.predict_shared_s(prefix_rows, prefix_length, row_passes)
        predicted = [self.predict_s(rows, length) for rows, length in parts]
        for (rows, length), part_s in zip(parts, predicted, strict=True):
            self.observe(rows, length, part_s * ratio)
        with self._lock:
            self._context_s *= 1 + _OBSERVE_WEIGHT * (ratio - 1)

    def observe(self, rows: int, length: int, seconds: float) -> None:
        """Fold the measured time of a real batch into the nearest grid cell; a shape far from every cell
        (a batch larger or longer than warm-up timed) becomes a new cell at the nearest power-of-two shape,
        so the model learns what it could only extrapolate before."""
        if rows < 1 or length < 1 or seconds <= 0:
            return
        with self._lock:
            cell = min(
                self._table,
                key=lambda rc: abs(math.log(rc[0] / rows)) + abs(math.log(rc[1] / length)),
            )
        near = abs(math.log(cell[0] / rows)) <= _NEAR and abs(math.log(cell[1] / length)) <= _NEAR
        if not near:
            cell = (1 << round(math.log2(rows)), 1 << round(math.log2(length)))
        # Scale the observation to the cell's shape with the current model, then average it in.
        scaled = seconds * self.predict_s(*cell) / self.predict_s(rows, length)
        with self._lock:
            if cell in self._table:
                old = self._table[cell]
                self._table[cell] = (1 - _OBSERVE_WEIGHT) * old + _OBSERVE_WEIGHT * scaled
            else:
                self._table[cell] = scaled
                self._index()

    def _index(self) -> None:
        self._lengths = sorted({length for _, length in self._table})
        self._rows_at = {length: sorted(r for r, t in self._table if t == length) for length in self._lengths}


def profile_grid(max_rows: int, max_length: int, max_tokens: int) -> list[tuple[int, int]]:
    """Shapes to time: rows 1, 2, 4, ... and lengths 32, 64, ..., max_length, with rows x length <= max_tokens
    (a row of every length is always included)."""
    lengths = []
    length = 32
    while length < max_length:
        lengths.append(length)
        length *= 2
    lengths.append(max_length)
    shapes = []
    for length in lengths:
        rows = 1
        while rows <= max_rows and (rows == 1 or rows * length <= max_tokens):
            shapes.append((rows, length))
            rows *= 2
    return shapes


def synthetic_pair(template: EncodedPair, length: int) -> EncodedPair:
    """A pair of exactly `length` tokens made by repeating `template`'s ids (for timing only)."""
    reps = length // template.num_tokens + 1
    ids = (template.input_ids * reps)[:length]
    types = (template.token_type_ids * reps)[:length] if template.token_type_ids is not None else None
    return EncodedPair(ids, types, False)


def profile_backend(
    score: Callable[[Sequence[EncodedPair]], object],
    template: EncodedPair,
    shapes: Sequence[tuple[int, int]],
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> CostModel:
    """Time `score` on each shape (the best of two runs, after one untimed run per length), by increasing
    rows and then length (every length is timed alone before any batch is), until `budget_s` is spent.

    Returns a model of what was measured; with a budget of 0, the assumed model, without timing anything.
    """
    if budget_s <= 0:
        return CostModel.assumed()
    table: dict[tuple[int, int], float] = {}
    started = clock()
    warmed: set[int] = set()
    for rows, length in sorted(shapes):
        if clock() - started > budget_s:
            break
        batch = [synthetic_pair(template, length)] * rows
        if length not in warmed:
            score(batch[:1])
            warmed.add(length)
        best = math.inf
        for _ in range(2):
            t0 = clock()
            score(batch)
            best = min(best, clock() - t0)
        table[(rows, length)] = max(best, 1e-9)
    if not table:
        return CostModel.assumed()
    logger.info("profiled %d batch shapes in %.1f s", len(table), clock() - started)
    return CostModel(table)
