"""Score groups of pairs that share a prefix by computing the prefix once (causal reward models; imports torch).

A batch of `SharedGroup`s runs in two steps of forward passes of the backbone:
1. the G distinct prefixes, right-padded to the longest (P), filling a `DynamicCache` with their keys and
   values;
2. every row's own remainder, right-padded to the longest (S), with position ids continuing after its
   group's prefix, attending to its group's cached prefix (padding slots masked) and causally to itself;
   in one pass, or in several passes of rows of similar length over the same cache where the cost model
   predicts that padding the short rows to the longest costs more (on a CPU, usually).
The reward is read where the model's own head reads it, at the rightmost token that is not the pad token
(Hugging Face's `...ForSequenceClassification` rule, so a model whose pad token is its EOS reads before its
trailing EOS), from the remainder's hidden states or, when that token lies in the prefix, from the
prefix's. The head (`model.score`) is applied to those states only.

Memory: the prefix's cache is G x P per layer. In a rows' pass each layer sees its group's prefix as an
expanded view (one group) or an index_select (several), concatenated with the rows' new keys for that
layer's attention only: nothing of a rows' pass is stored in the cache, a pass keeps only the hidden state
each of its rows is read at, and everything is freed when the call returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from models.formatting import EncodedPair
from models.shared_prefix import SharedGroup


def prefix_sharing_unsupported(model: Any) -> str | None:
    """Why `model` cannot score a shared prefix once (None when it can).

    It can when it is a causal backbone under Hugging Face's generic sequence-classification head (Llama,
    Qwen2, Mistral, Gemma, ... `ForSequenceClassification`) whose layers all attend to the full past:
    sliding-window or linear-attention layers see a different past once the prefix is cached apart.
    """
    from transformers.modeling_layers import GenericForSequenceClassification

    if not isinstance(model, GenericForSequenceClassification):
        return f"{type(model).__name__} is not a causal model under the generic sequence-classification head"
    config: Any = getattr(model, "config")  # noqa: B009 (the mixin's stubs do not declare it)
    if not getattr(config.get_text_config(decoder=True), "is_causal", True):
        return "the model attends bidirectionally"
    layers = DynamicCache(config=config).layers
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return "the model has sliding-window or linear-attention layers"
    return None


class _SharedPrefixLayer(DynamicLayer):
    """One layer's cached prefix keys/values, shape (G, heads, P, dim), read by rows of several groups.

    `update` returns the row's prefix (an expanded view for one group, gathered by `row_groups` for several)
    concatenated with the new states, and stores nothing: the cache keeps only the prefix, so the
    concatenation lives for this layer's attention only and the length stays P for the mask.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, row_groups: torch.Tensor | None) -> None:
        super().__init__()
        self.dtype, self.device = keys.dtype, keys.device
        self.keys, self.values = keys, values
        self.is_initialized = True
        self._row_groups = row_groups

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.keys is not None and self.values is not None
        if self._row_groups is None:
            rows = key_states.shape[0]
            keys = self.keys.expand(rows, -1, -1, -1)
            values = self.values.expand(rows, -1, -1, -1)
        else:
            keys = self.keys.index_select(0, self._row_groups)
            values = self.values.index_select(0, self._row_groups)
        return torch.cat([keys, key_states], dim=-2), torch.cat([values, value_states], dim=-2)


def _share_layer(layer: Any, row_groups: torch.Tensor | None) -> _SharedPrefixLayer:
    """The prefix pass's `DynamicLayer` (every layer is one: `prefix_sharing_unsupported`) as a shared one."""
    return _SharedPrefixLayer(layer.keys, layer.values, row_groups)


def _right_padded(sequences: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids (len(sequences), longest) right-padded with `pad_token_id`, and their attention mask."""
    longest = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
    return ids, mask


def _reward_positions(pairs: Sequence[EncodedPair], pad_token_id: int) -> list[int]:
    """The index the head reads for each pair: its rightmost non-pad token, or 0 when all are pad tokens."""
    positions = []
    for pair in pairs:
        ids = np.asarray(pair.input_ids)
        real = np.flatnonzero(ids != pad_token_id)
        positions.append(int(real[-1]) if real.size else 0)
    return positions


def score_groups(
    model: Any,
    pairs: Sequence[EncodedPair],
    groups: Sequence[SharedGroup],
    pad_token_id: int,
    device: str,
    row_passes: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Raw rewards, float32, one per row of `groups` (in the order of the groups, then of their rows).

    `pairs[r]` for r in a group must begin with that group's prefix (as `plan_groups` guarantees).
    `row_passes` splits the grouped rows (indices into `pairs`, each row in exactly one) into several rows'
    passes over the one prefix cache (`models.shared_prefix.split_row_passes`); None runs them in one.
    """
    backbone = getattr(model, model.base_model_prefix)
    prefixes = [pairs[g.rows[0]].input_ids[: g.prefix_tokens] for g in groups]
    group_of = {r: gi for gi, g in enumerate(groups) for r in g.rows}
    members = list(group_of)
    passes = [members] if row_passes is None else row_passes
    if sorted(r for rows in passes for r in rows) != sorted(members):
        raise ValueError("row_passes must hold every grouped row exactly once")
    prefix_ids, prefix_mask = _right_padded(prefixes, pad_token_id)
    positions = dict(zip(members, _reward_positions([pairs[r] for r in members], pad_token_id), strict=True))

    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        prefix_out = backbone(
            input_ids=prefix_ids.to(device),
            attention_mask=prefix_mask.to(device),
            past_key_values=cache,
            use_cache=True,
        )
        prefix_hidden = prefix_out.last_hidden_state
        states: dict[int, torch.Tensor] = {}
        for rows in passes:
            rest_hidden = _rows_pass(backbone, cache, pairs, groups, group_of, rows, prefix_mask, pad_token_id, device)
            for index, r in enumerate(rows):
                start = groups[group_of[r]].prefix_tokens
                position = positions[r]
                states[r] = (
                    rest_hidden[index, position - start].clone()
                    if position >= start
                    else prefix_hidden[group_of[r], position]
                )
        del cache
        logits = model.score(torch.stack([states[r] for r in members]))
    return logits[:, 0].float().cpu().numpy().astype(np.float32)


def _rows_pass(
    backbone: Any,
    cache: DynamicCache,
    pairs: Sequence[EncodedPair],
    groups: Sequence[SharedGroup],
    group_of: dict[int, int],
    rows: Sequence[int],
    prefix_mask: torch.Tensor,
    pad_token_id: int,
    device: str,
) -> torch.Tensor:
    """Last hidden states (len(rows), S, hidden) of `rows`' own remainders, right-padded to the longest
    (S), each attending to its group's cached prefix (padding slots masked) and causally to itself."""
    rest_ids, rest_mask = _right_padded(
        [pairs[r].input_ids[groups[group_of[r]].prefix_tokens :] for r in rows], pad_token_id
    )
    longest_rest = rest_ids.shape[1]
    row_groups = torch.tensor([group_of[r] for r in rows], dtype=torch.long)
    starts = torch.tensor([groups[group_of[r]].prefix_tokens for r in rows], dtype=torch.long)
    position_ids = starts[:, None] + torch.arange(longest_rest)[None, :]
    attention_mask = torch.cat([prefix_mask.index_select(0, row_groups), rest_mask], dim=1)
    shared = DynamicCache()
    one_group = len(groups) == 1
    shared.layers = [_share_layer(layer, None if one_group else row_groups.to(device)) for layer in cache.layers]
    out = backbone(
        input_ids=rest_ids.to(device),
        attention_mask=attention_mask.to(device),
        position_ids=position_ids.to(device),
        past_key_values=shared,
        use_cache=True,
    )
    return out.last_hidden_state
