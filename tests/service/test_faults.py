"""Faults in-process, with injected backends: saturation, deadlines, overload, failing batches, client
disconnection, and authentication (with normalized scores from a model card)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loadtest.server import wait_until
from models.card import ModelCard, ScoreStats, write_card
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from service.auth import key_matches
from service.batcher import DynamicBatcher
from service.errors import ClientClosed
from service.scorer import Scorer, ScorerLimits
from service.settings import Settings
from tests.service.app_harness import serving, state_of
from tests.service.fault_backends import BlockingBackend, FailingBackend, FakeBackend, reference_score

ONE = {"items": [{"prompt": "p", "response": "r"}]}


@pytest.fixture(scope="module")
def blocked(tiny_encoder_dir: Path) -> Iterator[tuple[TestClient, BlockingBackend]]:
    backend = BlockingBackend()
    settings = Settings(
        model=tiny_encoder_dir,
        workers=1,
        max_batch_size=1,
        max_queue_items=3,
        interactive_max_queue_items=3,
        profile_budget_s=0,
        max_wait_ms=0,
    )
    with serving(settings, backend) as client:
        yield client, backend
        backend.gate.set()


def test_health_answers_while_the_backend_is_saturated(blocked: tuple[TestClient, BlockingBackend]) -> None:
    client, backend = blocked
    before = backend.entered
    backend.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(client.post, "/v1/score", json=ONE)
        backend.wait_entered(before + 1)
        assert client.get("/health").json() == {"status": "ok", "phase": "ready"}
        assert client.get("/ready").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert not stuck.done()  # the only worker is still inside the forward pass
        backend.gate.set()
        assert stuck.result().status_code == 200


def test_deadline_gives_504_and_drops_the_queued_items(blocked: tuple[TestClient, BlockingBackend]) -> None:
    client, backend = blocked
    before = backend.entered
    backend.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(client.post, "/v1/score", json=ONE)
        backend.wait_entered(before + 1)
        late = client.post("/v1/score", json={**ONE, "timeout_s": 0.2})
        assert late.status_code == 504
        assert late.json()["error"]["type"] == "deadline_exceeded"
        batcher = state_of(client).batcher
        assert batcher is not None and batcher.queued_items == 0
        gate = client.post("/v1/gate", json={"prompt": "p", "response": "r", "timeout_s": 0.2})
        assert gate.status_code == 504
        backend.gate.set()
        assert stuck.result().status_code == 200


def test_a_full_queue_refuses_with_429_and_retry_after(blocked: tuple[TestClient, BlockingBackend]) -> None:
    client, backend = blocked
    batcher = state_of(client).batcher
    assert batcher is not None
    before = backend.entered
    backend.gate.clear()
    with ThreadPoolExecutor(4) as pool:
        running = pool.submit(client.post, "/v1/score", json=ONE)
        backend.wait_entered(before + 1)
        queued = [pool.submit(client.post, "/v1/score", json=ONE) for _ in range(3)]
        wait_until(lambda: batcher.queued_items == 3)
        refused = client.post("/v1/score", json=ONE)
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        backend.gate.set()
        answers = [f.result() for f in [running, *queued]]
    assert [a.status_code for a in answers] == [200] * 4
    # One pair: the interactive lane (the route's default is by size), whose own bound refused it.
    assert 'rmserve_rejections_total{lane="interactive",reason="queue_full"} 1.0' in client.get("/metrics").text


def test_a_failing_batch_fails_only_its_request(tiny_encoder_dir: Path) -> None:
    backend = FailingBackend(poison_tokens=-1)
    settings = Settings(model=tiny_encoder_dir, workers=1, max_batch_size=1, profile_budget_s=0)
    with serving(settings, backend) as client:
        model = state_of(client).model
        assert model is not None
        backend.poison_tokens = model.formatter.encode("p", "poison " * 9).num_tokens
        failed = client.post("/v1/score", json={"items": [{"prompt": "p", "response": "poison " * 9}]})
        assert failed.status_code == 500
        assert failed.json()["error"] == {
            "type": "backend_error",
            "message": "the model failed on this batch: injected failure",
        }
        fine = client.post("/v1/score", json=ONE)
        assert fine.status_code == 200
        assert fine.json()["scores"] == pytest.approx([reference_score(model.formatter.encode("p", "r"))])


def test_a_disconnected_client_frees_its_queued_items(tiny_encoder_dir: Path) -> None:
    folder = inspect_model_folder(tiny_encoder_dir)
    formatter = build_formatter(folder, load_tokenizer(folder), 64)
    backend = BlockingBackend()
    batcher = DynamicBatcher(backend, Settings(max_batch_size=1, workers=1, max_wait_ms=0).batcher_config())
    scorer = Scorer(formatter, batcher, ScorerLimits(100, 1000, 64))
    batcher.start()

    async def scenario() -> None:
        backend.gate.clear()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        first = asyncio.create_task(scorer.score([("p", "r")], 30.0, never))
        await asyncio.to_thread(backend.wait_entered, 1)
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        second = asyncio.create_task(scorer.score([("p", "a"), ("p", "b"), ("p", "c")], 30.0, gone))
        while batcher.queued_items < 3:
            await asyncio.sleep(0)
        gone.set_result(None)
        with pytest.raises(ClientClosed):
            await second
        assert batcher.queued_items == 0
        backend.gate.set()
        assert len((await first).items) == 1

    try:
        asyncio.run(scenario())
    finally:
        backend.gate.set()
        batcher.close()
        scorer.close()
    assert sum(len(b) for b in backend.batches) == 1  # the abandoned pairs never ran


@pytest.fixture(scope="module")
def carded_model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("carded-rm")
    for item in tiny_encoder_dir.iterdir():
        shutil.copy(item, folder / item.name)
    write_card(folder, ModelCard(name="carded-rm", score_stats=ScoreStats(mean=1.0, std=2.0), heldout_accuracy=0.7))
    return folder


def test_api_keys_guard_scoring_routes_but_not_probes(carded_model_dir: Path) -> None:
    settings = Settings(model=carded_model_dir, api_keys="key-one, key-two", profile_budget_s=0, workers=1)
    with serving(settings, FakeBackend()) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic key-one"}):
            r = client.post("/v1/score", json=ONE, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated"
            assert r.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/models").status_code == 401
        assert client.post("/get_reward", json={"query": ["x"]}).status_code == 401
        for path in ("/health", "/ready", "/metrics"):
            assert client.get(path).status_code == 200, path
        ok = client.post("/v1/score", json=ONE, headers={"Authorization": "Bearer key-two"})
        assert ok.status_code == 200
        item = ok.json()["items"][0]
        assert item["normalized"] == pytest.approx((item["score"] - 1.0) / 2.0)
        info = client.get("/v1/models", headers={"Authorization": "Bearer key-one"}).json()
        assert info["model"] == "carded-rm" and info["card"]["heldout_accuracy"] == 0.7


def test_key_comparison() -> None:
    assert key_matches("abc", ["x", "abc"])
    assert not key_matches("ab", ["abc"])
    assert not key_matches("\ud800", ["abc"])
