"""Which rows of a batch can share one prefix pass: groups of pairs that begin with the same tokens.

A causal (decoder) reward model's hidden state at a position depends only on the tokens up to it, so rows
that begin with the same L token ids can compute those L tokens once and run only their own remainders,
attending to the shared keys and values: the scores are those of the full sequences. `plan_groups` finds
the groups from the token ids alone (longest common token prefixes, as a radix cache would), so it works
the same whether the request gave prompt and response apart or a whole templated text. A pair whose prompt
was truncated or rendered differently begins with other ids and simply does not share.

Torch-free: the batcher plans and costs batches with it, the torch backend executes the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.formatting import EncodedPair


@dataclass(frozen=True, slots=True)
class SharedGroup:
    """Rows of one batch (indices, ascending) whose first `prefix_tokens` ids are equal.

    Every row is longer than the prefix (at least one token of its own), and a group has at least two rows.
    """

    prefix_tokens: int
    rows: tuple[int, ...]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids `a` and `b` have in common."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(differ[0]) if differ.size else n


def plan_groups(pairs: Sequence[EncodedPair], min_prefix_tokens: int) -> list[SharedGroup]:
    """Groups of rows that share a prefix of at least `min_prefix_tokens` ids; rows in no group run alone.

    One level of sharing (a group shares one prefix): of the partitions a radix tree of the rows offers,
    the one that computes the fewest tokens (each group's prefix once, plus every row's own remainder).
    Rows with equal ids form a group too (each keeps its last token). Deterministic for a given batch.
    """
    if len(pairs) < 2:
        return []
    order = sorted(range(len(pairs)), key=lambda i: pairs[i].input_ids)
    ids = [pairs[i].input_ids for i in order]
    adjacent = [common_prefix_length(ids[k], ids[k + 1]) for k in range(len(ids) - 1)]
    lengths = [pairs[i].num_tokens for i in order]

    def best(lo: int, hi: int) -> tuple[int, list[SharedGroup]]:
        """Fewest tokens computed for the sorted rows order[lo:hi], and the groups that achieve it."""
        plain = sum(lengths[lo:hi])
        if hi - lo < 2:
            return plain, []
        low = min(adjacent[lo : hi - 1])
        # Splitting where the run's common prefix ends gives sub-runs that share longer prefixes.
        split_cost, split_groups, start = 0, [], lo
        for k in range(lo, hi - 1):
            if adjacent[k] == low:
                cost, found = best(start, k + 1)
                split_cost, start = split_cost + cost, k + 1
                split_groups += found
        cost, found = best(start, hi)
        split_cost += cost
        split_groups += found
        shared = min(low, min(lengths[lo:hi]) - 1)
        if shared >= min_prefix_tokens:
            whole = plain - shared * (hi - lo - 1)
            if whole <= split_cost:
                return whole, [SharedGroup(shared, tuple(sorted(order[lo:hi])))]
        return split_cost, split_groups

    _, groups = best(0, len(order))
    return sorted(groups, key=lambda g: g.rows[0])


def tokens_saved(groups: Sequence[SharedGroup]) -> int:
    """Prefix tokens a plan does not compute again: each group's prefix once per row beyond the first."""
    return sum(g.prefix_tokens * (len(g.rows) - 1) for g in groups)


def split_row_passes(rest_lengths: Sequence[int], pass_cost_s: Callable[[int, int], float]) -> list[list[int]]:
    """The grouped rows' pass split into passes of rows of similar length, at the least predicted cost.

    `rest_lengths[i]` is row i's own tokens (beyond its group's prefix); `pass_cost_s(rows, longest)` the
    predicted seconds of one pass of `rows` rows padded to `longest`. Returns indices into `rest_lengths`,
    one list per pass, every row in exactly one, shortest rows first. On a GPU one padded pass is usually
    cheapest; on a CPU, where a padded token costs as much as a real one, rows of very different lengths
    are cheaper apart. Rows are taken in length order, so the best split is contiguous in it: a dynamic
    program over that order, O(rows^2) cost calls. Deterministic for given lengths and costs.
    """
    order = sorted(range(len(rest_lengths)), key=lambda i: (rest_lengths[i], i))
    best_s = [0.0] + [math.inf] * len(order)  # best_s[j]: least cost of order[:j]
    cut = [0] * (len(order) + 1)  # where the last pass of order[:j] begins
    for end in range(1, len(order) + 1):
        longest = rest_lengths[order[end - 1]]
        for start in range(end):
            cost = best_s[start] + pass_cost_s(end - start, longest)
            if cost < best_s[end]:
                best_s[end], cut[end] = cost, start
    passes: list[list[int]] = []
    end = len(order)
    while end > 0:
        passes.append(order[cut[end] : end])
        end = cut[end]
    return passes[::-1]


@dataclass(frozen=True, slots=True)
class PlanTokens:
    """What a batch's passes compute under a plan (token counts; `padded` includes each pass's padding).

    `prompt_computed` counts the prompt tokens computed (each group's prefix once, plus the prompt tokens of
    rows beyond their group's prefix, as far as the pairs know their prompt); `prompt_saved` the prefix
    tokens not computed again.
    """

    real: int
    padded: int
    prompt_computed: int
    prompt_saved: int
    prefix_rows: int  # prefixes in the prefix pass
    longest_prefix: int
    row_passes: tuple[tuple[int, int], ...]  # the grouped rows' passes: (rows, padded to this many tokens)
    alone_rows: int
    longest_alone: int

    @property
    def grouped_rows(self) -> int:
        return sum(rows for rows, _ in self.row_passes)


def plan_tokens(
    pairs: Sequence[EncodedPair], groups: Sequence[SharedGroup], row_passes: Sequence[Sequence[int]] | None = None
) -> PlanTokens:
    """The token counts of running `pairs` under `groups`, the grouped rows in `row_passes` (batch indices,
    one sequence per pass; None: one pass of them all)."""
    prefix_of = {row: g.prefix_tokens for g in groups for row in g.rows}
    rest_of = {row: pairs[row].num_tokens - prefix for row, prefix in prefix_of.items()}
    passes = [list(prefix_of)] if row_passes is None else row_passes
    shapes = tuple((len(rows), max(rest_of[row] for row in rows)) for rows in passes if rows)
    alone = [p.num_tokens for row, p in enumerate(pairs) if row not in prefix_of]
    prefixes = [g.prefix_tokens for g in groups]
    longest_prefix = max(prefixes, default=0)
    longest_alone = max(alone, default=0)
    beyond = sum(max(0, pairs[row].prompt_tokens - prefix) for row, prefix in prefix_of.items())
    alone_prompts = sum(p.prompt_tokens for row, p in enumerate(pairs) if row not in prefix_of)
    return PlanTokens(
        real=sum(prefixes) + sum(rest_of.values()) + sum(alone),
        padded=len(groups) * longest_prefix
        + sum(rows * longest for rows, longest in shapes)
        + len(alone) * longest_alone,
        prompt_computed=sum(prefixes) + beyond + alone_prompts,
        prompt_saved=tokens_saved(groups),
        prefix_rows=len(groups),
        longest_prefix=longest_prefix,
        row_passes=shapes,
        alone_rows=len(alone),
        longest_alone=longest_alone,
    )
