"""What `rmserve serve` does to its own process once the model is loaded: freeze the garbage collector's
view of everything loading made, so that full collections under load do not re-scan it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    yield
    gc.unfreeze()


def _ready(freeze_gc: bool, model_dir: Path) -> int:
    """Start an app in-process, wait until ready, and return the collector's frozen-object count then."""
    app = create_app(Settings(model=model_dir, profile_budget_s=0), freeze_gc=freeze_gc)
    with TestClient(app):
        assert app.state.service.loaded.wait(300) and app.state.service.phase == "ready"
        return gc.get_freeze_count()


def test_the_served_process_freezes_what_loading_made(tiny_encoder_dir: Path, restore_gc: None) -> None:
    gc.unfreeze()
    assert _ready(False, tiny_encoder_dir) == 0, "apps built by tests must leave the collector alone"
    frozen = _ready(True, tiny_encoder_dir)
    # The tokenizer, the model and the libraries they pulled in: tens of thousands of objects.
    assert frozen > 10_000


def test_a_model_that_runs_one_pair_per_run_is_never_batched(tiny_encoder_dir: Path) -> None:
    """An int8 model runs its pairs one per onnxruntime run (batch invariance), so a multi-pair batch is
    only a serial queue inside one worker: the service sends it single pairs."""
    from tests.service.app_harness import serving, state_of
    from tests.service.fault_backends import FakeBackend

    class OnePairPerRun(FakeBackend):
        rows_per_run = 1

    backend = OnePairPerRun()
    with serving(Settings(model=tiny_encoder_dir, profile_budget_s=1), backend) as client:
        assert state_of(client).batcher.config.max_batch_size == 1
        items = [{"prompt": "p", "response": "r" * n} for n in range(1, 40)]
        assert client.post("/v1/score", json={"items": items}).status_code == 200
    assert backend.batches and all(len(batch) == 1 for batch in backend.batches)
