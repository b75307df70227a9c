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

from collections.abc import Sequence
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
    grouped_rows: int
    longest_rest: int  # the rows' pass, padded to this many tokens
    alone_rows: int
    longest_alone: int


def plan_tokens(pairs: Sequence[EncodedPair], groups: Sequence[SharedGroup]) -> PlanTokens:
    prefix_of = {row: g.prefix_tokens for g in groups for row in g.rows}
    rests = [pairs[row].num_tokens - prefix for row, prefix in prefix_of.items()]
    alone = [p.num_tokens for row, p in enumerate(pairs) if row not in prefix_of]
    prefixes = [g.prefix_tokens for g in groups]
    longest_prefix, longest_rest = max(prefixes, default=0), max(rests, default=0)
    longest_alone = max(alone, default=0)
    beyond = sum(max(0, pairs[row].prompt_tokens - prefix) for row, prefix in prefix_of.items())
    alone_prompts = sum(p.prompt_tokens for row, p in enumerate(pairs) if row not in prefix_of)
    return PlanTokens(
        real=sum(prefixes) + sum(rests) + sum(alone),
        padded=len(groups) * longest_prefix + len(rests) * longest_rest + len(alone) * longest_alone,
        prompt_computed=sum(prefixes) + beyond + alone_prompts,
        prompt_saved=tokens_saved(groups),
        prefix_rows=len(groups),
        longest_prefix=longest_prefix,
        grouped_rows=len(rests),
        longest_rest=longest_rest,
        alone_rows=len(alone),
        longest_alone=longest_alone,
    )
