"""Pad encoded pairs into model-ready numpy arrays (shared by every backend and by training)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.formatting import EncodedPair


def pad_batch(pairs: Sequence[EncodedPair], pad_token_id: int) -> dict[str, np.ndarray]:
    """Right-pad `pairs` to the longest one.

    Returns int64 arrays of shape (B, T): `input_ids`, `attention_mask` and, when the pairs carry them,
    `token_type_ids`. Right padding keeps each pair's tokens at the same positions whatever its
    neighbours, which is what makes a score independent of the batch it ran in.
    """
    if not pairs:
        raise ValueError("cannot pad an empty batch")
    width = max(p.num_tokens for p in pairs)
    input_ids = np.full((len(pairs), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(pairs), width), dtype=np.int64)
    with_types = pairs[0].token_type_ids is not None
    token_type_ids = np.zeros((len(pairs), width), dtype=np.int64) if with_types else None
    for row, pair in enumerate(pairs):
        n = pair.num_tokens
        input_ids[row, :n] = pair.input_ids
        attention_mask[row, :n] = 1
        if token_type_ids is not None and pair.token_type_ids is not None:
            token_type_ids[row, :n] = pair.token_type_ids
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        batch["token_type_ids"] = token_type_ids
    return batch


def padding_efficiency(token_counts: Sequence[int]) -> float:
    """Real tokens over padded tokens for one batch of the given lengths (1.0 means no padding)."""
    if not token_counts:
        return 1.0
    return sum(token_counts) / (max(token_counts) * len(token_counts))


def model_inputs(pairs: Sequence[EncodedPair], pad_token_id: int, input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The feeds of an exported graph (`rmserve export`: input_ids, attention_mask, token_type_ids) for
    `pairs`, right-padded: exactly the graph's `input_names`, with zero token types for a graph that takes
    them when the tokenizer gives none. Shared by every runtime that runs model.onnx."""
    arrays = pad_batch(pairs, pad_token_id)
    if "token_type_ids" in input_names and "token_type_ids" not in arrays:
        arrays["token_type_ids"] = np.zeros_like(arrays["input_ids"])
    return {name: arrays[name] for name in input_names}
