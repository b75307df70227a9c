"""End to end: the real `rmserve serve` process on a loopback port, over HTTP.

One server process for the module: the real small encoder RM (every endpoint, errors, auth); and the two
ways `rmserve serve` must refuse to start. Saturation, deadlines, overload, backend faults and SIGTERM with
requests in flight are the reliability suite's (tests/reliability), against the same kind of process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtest.server import REPO_ROOT, RunningServer, free_port, server_environment, start_server
from tests.conftest import minilm_dir

KEY = "e2e-secret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def log_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rmserve-e2e-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def real_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[RunningServer]:
    args = [
        "--max-length",
        "128",
        "--max-items-per-request",
        "16",
        "--max-body-bytes",
        "65536",
        "--profile-budget-s",
        "1",
    ]
    # Logs at info level: test_the_server_log_holds_log_lines_not_progress_bars reads them.
    settings = {"RMSERVE_API_KEYS": KEY, "RMSERVE_LOG_LEVEL": "info"}
    with start_server(tiny_encoder_dir, settings, args=args, log_path=log_dir / "real-server.log") as server:
        yield server


def test_every_endpoint_over_http(real_server: RunningServer) -> None:
    with httpx.Client(base_url=real_server.url, headers=AUTH, timeout=60) as http:
        score = http.post("/v1/score", json={"items": [{"prompt": "hi", "response": "hello there"}] * 3})
        assert score.status_code == 200, score.text
        body = score.json()
        assert max(body["scores"]) - min(body["scores"]) <= 1e-5 and len(body["items"]) == 3
        assert float(score.headers["x-inference-time"]) > 0
        digest = body["weights_digest"]
        rank = http.post("/v1/rank", json={"prompt": "hi", "responses": ["a", "hello there", "b"]}).json()
        assert sorted(rank["ranking"]) == [0, 1, 2] and rank["scores"][1] == pytest.approx(body["scores"][0], abs=1e-5)
        compare = http.post("/v1/compare", json={"prompt": "hi", "response_a": "hello there", "response_b": "a"}).json()
        assert 0 < compare["prob_a_preferred"] < 1
        gate = http.post("/v1/gate", json={"prompt": "hi", "response": "hello there", "threshold": 1e9}).json()
        assert gate["decision"] == "block"
        reward = http.post("/get_reward", json={"query": ["hi hello there"], "prompts": ["hi "], "labels": [None]})
        assert reward.status_code == 200 and len(reward.json()["rewards"]) == 1
        classify = http.post("/classify", json={"input": ["hi hello there"], "use_activation": False})
        assert classify.status_code == 200 and classify.json()["data"][0]["num_classes"] == 1
        models = http.get("/v1/models").json()
        assert models["weights_digest"] == digest and models["backend"] == "torch"
        for answer in (rank, compare, gate, reward.json(), classify.json()):
            assert answer["weights_digest"] == digest
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/ready").json()["ready"] is True
        assert "rmserve_batch_size_count" in http.get("/metrics").text
        assert http.get("/docs").status_code == 200


def test_the_server_log_holds_log_lines_not_progress_bars(real_server: RunningServer) -> None:
    log = real_server.log_path.read_text(errors="replace")
    assert "loaded " in log and "ready: " in log
    assert "Loading weights" not in log and "\r" not in log


def test_errors_and_auth_over_http(real_server: RunningServer) -> None:
    with httpx.Client(base_url=real_server.url, timeout=60) as http:
        assert http.post("/v1/score", json={"items": [{"prompt": "a", "response": "b"}]}).status_code == 401
        assert http.get("/health").status_code == 200
        http.headers.update(AUTH)
        raw = [b"{bad json", b'{"items": []}', b'{"items": [{"prompt": "\\ud800", "response": "b"}]}']
        for content in raw:
            r = http.post("/v1/score", content=content, headers={"content-type": "application/json"})
            assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request", content
        many = {"items": [{"prompt": "a", "response": "b"}] * 17}
        assert http.post("/v1/score", json=many).status_code == 413

        def chunked() -> Iterator[bytes]:
            yield b'{"items": [{"prompt": "a", "response": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}]}'

        r = http.post("/v1/score", content=chunked(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"
        assert http.get("/v1/missing").json()["error"]["type"] == "not_found"


def test_a_public_bind_without_keys_is_refused() -> None:
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    done = subprocess.run(command, cwd=REPO_ROOT, env=server_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "without API keys" in done.stderr


def test_a_bare_backbone_is_refused_and_the_process_exits_non_zero() -> None:
    command = [sys.executable, "-m", "service.cli", "serve", "--model", str(minilm_dir()), "--port", str(free_port())]
    env = server_environment({"RMSERVE_PROFILE_BUDGET_S": "0"})
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "no reward head" in done.stderr
