"""Planning shared-prefix groups from token ids alone (torch-free)."""

from __future__ import annotations

from models.formatting import EncodedPair
from models.shared_prefix import (
    SharedGroup,
    common_prefix_length,
    plan_groups,
    plan_tokens,
    split_row_passes,
    tokens_saved,
)


def pair(ids: list[int], prompt_tokens: int = 0) -> EncodedPair:
    return EncodedPair(tuple(ids), None, False, prompt_tokens=prompt_tokens)


SYSTEM = list(range(1000, 1040))  # a 40-token system prompt every conversation begins with


def test_common_prefix_length() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([5], [6]) == 0


def test_two_prompts_behind_one_system_prompt_form_two_groups_not_one() -> None:
    prompt_a, prompt_b = SYSTEM + list(range(200)), SYSTEM + list(range(500, 700))
    pairs = [pair([*prompt_a, 7, i]) for i in range(3)] + [pair([*prompt_b, 8, 9, i]) for i in range(3)]
    pairs.insert(2, pair([*SYSTEM, 1, 2, 3]))  # shares only the system prompt with the others
    groups = plan_groups(pairs, min_prefix_tokens=32)
    assert groups == [SharedGroup(241, (0, 1, 3)), SharedGroup(242, (4, 5, 6))]
    tokens = plan_tokens(pairs, groups)
    assert tokens.prompt_saved == tokens_saved(groups) == 2 * 241 + 2 * 242
    plain = sum(p.num_tokens for p in pairs)
    assert tokens.real == plain - tokens.prompt_saved
    assert (tokens.prefix_rows, tokens.grouped_rows, tokens.alone_rows) == (2, 6, 1)


def test_a_short_common_prefix_does_not_share() -> None:
    pairs = [pair(SYSTEM[:20] + [i] * 30) for i in range(4)]
    assert plan_groups(pairs, min_prefix_tokens=32) == []
    assert plan_groups(pairs, min_prefix_tokens=16) == [SharedGroup(20, (0, 1, 2, 3))]


def test_identical_pairs_and_a_pair_that_is_the_others_prefix_keep_a_token_of_their_own() -> None:
    base = [*SYSTEM, 1, 2, 3]
    pairs = [pair(base), pair(base), pair([*base, 4, 5])]
    (group,) = plan_groups(pairs, min_prefix_tokens=32)
    assert group == SharedGroup(len(base) - 1, (0, 1, 2))


def test_differently_truncated_prompts_do_not_share() -> None:
    prompt = list(range(100))
    kept_whole = pair([*prompt, 1, 2], prompt_tokens=100)
    cut_oldest = pair([*prompt[10:], 1, 2, 3, 4], prompt_tokens=90)  # truncated from the left: other ids
    assert plan_groups([kept_whole, cut_oldest], min_prefix_tokens=32) == []


def test_a_group_of_one_is_no_group_and_planning_is_order_independent() -> None:
    prompt = SYSTEM + list(range(60))
    pairs = [pair([*prompt, i, i]) for i in range(5)]
    assert plan_groups(pairs[:1], 32) == []
    reordered = list(reversed(pairs))
    assert plan_groups(reordered, 32) == [SharedGroup(len(prompt), (0, 1, 2, 3, 4))]


def test_rows_run_apart_where_padding_costs_more_than_a_pass() -> None:
    lengths = [200, 10, 210, 12]
    per_token_s, per_pass_s = 1e-4, 1e-3
    cpu_like = split_row_passes(lengths, lambda rows, longest: per_pass_s + per_token_s * rows * longest)
    assert cpu_like == [[1, 3], [0, 2]]  # short with short, long with long: shortest first
    gpu_like = split_row_passes(lengths, lambda rows, longest: per_pass_s + 1e-7 * rows * longest)
    assert gpu_like == [[1, 3, 0, 2]]
    assert split_row_passes([], lambda rows, longest: 1.0) == []


def test_plan_tokens_count_each_rows_pass_padded_to_its_longest() -> None:
    prompt = SYSTEM + list(range(60))
    pairs = [pair([*prompt, *[900 + k] * n]) for k, n in enumerate((2, 3, 50))]
    groups = plan_groups(pairs, 32)
    one = plan_tokens(pairs, groups)
    split = plan_tokens(pairs, groups, [[0, 1], [2]])
    assert one.row_passes == ((3, 50),) and split.row_passes == ((2, 3), (1, 50))
    assert one.real == split.real == len(prompt) + 2 + 3 + 50
    assert (one.padded, split.padded) == (len(prompt) + 3 * 50, len(prompt) + 2 * 3 + 50)
    assert one.grouped_rows == split.grouped_rows == 3
