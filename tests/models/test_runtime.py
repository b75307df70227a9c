"""The scoring runtime's own contracts (input order, batching by length, ONNX metadata, "auto") and the ONNX
feeds it runs (`models.batching.model_inputs`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from models.batching import model_inputs
from models.formatting import EncodedPair
from models.runtime import (
    DTYPE_METADATA_KEY,
    ROWS_PER_RUN_METADATA_KEY,
    OnnxMetadata,
    available_cpus,
    choose_runtime,
    score_in_length_order,
)


def pair(*ids: int, types: bool = False) -> EncodedPair:
    return EncodedPair(input_ids=ids, token_type_ids=tuple(0 for _ in ids) if types else None, truncated=False)


def test_scores_come_back_in_input_order_from_batches_of_similar_length() -> None:
    encoded = [pair(*range(n)) for n in (3, 9, 1, 7, 5, 2)]
    batches: list[list[int]] = []

    def score(batch: Sequence[EncodedPair]) -> np.ndarray:
        batches.append([p.num_tokens for p in batch])
        return np.array([10.0 * p.num_tokens for p in batch])

    scores = score_in_length_order(score, encoded, batch_size=2)
    assert scores.dtype == np.float32
    assert scores.tolist() == [30.0, 90.0, 10.0, 70.0, 50.0, 20.0]
    assert batches == [[9, 7], [5, 3], [2, 1]]  # longest first, neighbours in length share a batch
    with pytest.raises(ValueError):
        score_in_length_order(score, encoded, batch_size=0)


def test_onnx_feeds_follow_the_models_inputs() -> None:
    feeds = model_inputs([pair(5, 6, 7), pair(8)], 0, ["input_ids", "attention_mask"])
    assert list(feeds) == ["input_ids", "attention_mask"]
    assert feeds["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]  # right padding
    assert feeds["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert all(array.dtype == np.int64 for array in feeds.values())
    # A model that takes token_type_ids gets zeros when the tokenizer produced none.
    typed = model_inputs([pair(5, 6)], 0, ["input_ids", "attention_mask", "token_type_ids"])
    assert typed["token_type_ids"].tolist() == [[0, 0]]


def test_onnx_metadata_round_trip() -> None:
    int8 = OnnxMetadata(dtype="int8", rows_per_run=1)
    assert int8.to_map() == {DTYPE_METADATA_KEY: "int8", ROWS_PER_RUN_METADATA_KEY: "1"}
    assert OnnxMetadata.from_map(int8.to_map()) == int8
    assert OnnxMetadata(dtype="fp32").to_map() == {DTYPE_METADATA_KEY: "fp32"}  # unset fields are not written
    assert OnnxMetadata.from_map({}) == OnnxMetadata(dtype=None, rows_per_run=None)


def test_auto_picks_onnx_only_when_the_folder_has_an_export() -> None:
    assert choose_runtime("auto", has_onnx=True) == "onnx"
    assert choose_runtime("auto", has_onnx=False) == "torch"
    assert choose_runtime("torch", has_onnx=True) == "torch"
    assert choose_runtime("onnx", has_onnx=False) == "onnx"  # the loader then explains what is missing
    assert available_cpus() >= 1
