"""The batcher's vector outputs: a K-output head's rows and a process reward model's step logits settle on
the right futures, step items and pairs never share a batch, and a wrongly shaped answer fails its batch."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from models.formatting import EncodedPair
from models.steps import EncodedSteps
from service.batcher import DynamicBatcher
from service.settings import Settings

K = 3


def pair(n_tokens: int, salt: int) -> EncodedPair:
    return EncodedPair(tuple((salt * 7 + i) % 50 + 1 for i in range(n_tokens)), None, False)


def steps_item(n_tokens: int, salt: int, positions: tuple[int, ...]) -> EncodedSteps:
    base = pair(n_tokens, salt)
    return EncodedSteps(base.input_ids, None, False, positions, len(positions), (False,) * len(positions))


def head_row(item: EncodedPair) -> np.ndarray:
    """The fake K-output head: a function of the ids alone."""
    total = sum(item.input_ids)
    return np.array([total % 97, total % 89, -(total % 83)], dtype=np.float32)


def step_logits(item: EncodedSteps) -> np.ndarray:
    return np.array([[float(item.input_ids[p]), float(p)] for p in item.score_positions], dtype=np.float32)


class VectorBackend:
    """A K-output head for pairs and a PRM for step items; records the class of each batch's items."""

    name = "fake"
    device = "cpu"
    dtype = "fp32"

    def __init__(self, bad_step_shape: bool = False) -> None:
        self.batch_kinds: list[set[type]] = []
        self.bad_step_shape = bad_step_shape

    def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        self.batch_kinds.append({type(item) for item in batch})
        return np.stack([head_row(item) for item in batch])

    def score_steps(self, batch: Sequence[EncodedSteps]) -> list[np.ndarray]:
        self.batch_kinds.append({type(item) for item in batch})
        outputs = [step_logits(item) for item in batch]
        return [out[:-1] for out in outputs] if self.bad_step_shape else outputs

    def close(self) -> None:
        pass


def run(backend: VectorBackend, items: Sequence[EncodedPair]) -> list:
    batcher = DynamicBatcher(
        backend, Settings(max_batch_size=8, max_wait_ms=2.0, workers=2, backend_worker_nice=0).batcher_config()
    )
    batcher.start()
    try:
        ticket = batcher.submit(items, time.monotonic() + 60)
        return [f.exception(timeout=30) or f.result(timeout=30) for f in ticket.futures]
    finally:
        batcher.close()


def test_vectors_and_step_logits_settle_on_their_own_items() -> None:
    items: list[EncodedPair] = []
    for i in range(24):
        items.append(pair(5 + i % 7, i) if i % 2 else steps_item(6 + i % 5, i, (1, 4) if i % 3 else (5,)))
    backend = VectorBackend()
    results = run(backend, items)
    for item, result in zip(items, results, strict=True):
        assert np.isnan(result.score)
        expected = step_logits(item) if isinstance(item, EncodedSteps) else head_row(item)
        assert np.array_equal(result.values, expected)
    assert all(len(kinds) == 1 for kinds in backend.batch_kinds)


def test_step_logits_of_the_wrong_shape_fail_the_batch() -> None:
    results = run(VectorBackend(bad_step_shape=True), [steps_item(8, 1, (2, 5))])
    assert isinstance(results[0], RuntimeError) and "wrong shape" in str(results[0])


def test_a_backend_without_score_steps_fails_step_items() -> None:
    class PairsOnly:
        name = "pairs-only"
        device = "cpu"
        dtype = "fp32"

        def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
            return np.zeros(len(batch), dtype=np.float32)

        def close(self) -> None:
            pass

    results = run(PairsOnly(), [steps_item(8, 1, (7,))])  # type: ignore[arg-type]
    assert isinstance(results[0], RuntimeError) and "does not score steps" in str(results[0])


@pytest.mark.parametrize("k", [1, K])
def test_a_one_column_answer_is_a_scalar_score(k: int) -> None:
    class Columns(VectorBackend):
        def score(self, batch: Sequence[EncodedPair]) -> np.ndarray:
            return np.stack([head_row(item)[:k] for item in batch])

    result = run(Columns(), [pair(6, 3)])[0]
    if k == 1:
        assert result.values is None and result.score == head_row(pair(6, 3))[0]
    else:
        assert np.isnan(result.score) and result.values.shape == (K,)
