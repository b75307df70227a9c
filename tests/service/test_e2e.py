"""End to end: the real `rmserve serve` process on a loopback port, over HTTP.

Two server processes per module run: the real small encoder RM (every endpoint, errors, auth), and a
server whose backend stalls while a gate file exists (saturation, deadline, overload, and SIGTERM with
requests in flight: none may be lost).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from tests.conftest import minilm_dir
from tests.service.fault_backends import GATE_FILE_ENV, reference_score

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-secret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll a condition on the server's observable state (not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


def start_server(model_dir: Path, args: list[str], env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env}
    command = [sys.executable, "-m", "service.cli", "serve", "--model", str(model_dir), "--port", str(port), *args]
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"rmserve exited with {process.returncode}:\n{server.log()}")
        try:
            return httpx.get(f"{server.url}/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout_s=300)
    return server


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def log_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rmserve-e2e-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def real_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[Server]:
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
    server = start_server(tiny_encoder_dir, args, {"RMSERVE_API_KEYS": KEY}, log_dir)
    yield server
    stop(server)


def test_every_endpoint_over_http(real_server: Server) -> None:
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


def test_the_server_log_holds_log_lines_not_progress_bars(real_server: Server) -> None:
    log = real_server.log_path.read_text(errors="replace")
    assert "loaded " in log and "ready: " in log
    assert "Loading weights" not in log and "\r" not in log


def test_errors_and_auth_over_http(real_server: Server) -> None:
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMSERVE_")}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "without API keys" in done.stderr


def test_a_bare_backbone_is_refused_and_the_process_exits_non_zero() -> None:
    command = [sys.executable, "-m", "service.cli", "serve", "--model", str(minilm_dir()), "--port", str(free_port())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RMSERVE_PROFILE_BUDGET_S": "0"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "no reward head" in done.stderr


@pytest.fixture(scope="module")
def gated_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[tuple[Server, Path]]:
    gate = log_dir / "gate"
    args = ["--workers", "1", "--max-batch-size", "1", "--max-queue-items", "4", "--profile-budget-s", "0"]
    env = {
        "RMSERVE_BACKEND_FACTORY": "tests.service.fault_backends:gated_backend",
        GATE_FILE_ENV: str(gate),
        "RMSERVE_SHUTDOWN_GRACE_S": "30",
        "RMSERVE_INTERACTIVE_MAX_QUEUE_ITEMS": "4",  # single-pair requests queue in the interactive lane
    }
    server = start_server(tiny_encoder_dir, args, env, log_dir)
    yield server, gate
    gate.unlink(missing_ok=True)
    stop(server)


def expected_score(model_dir: Path, prompt: str, response: str) -> float:
    folder = inspect_model_folder(model_dir)
    return reference_score(build_formatter(folder, load_tokenizer(folder)).encode(prompt, response))


def post_one(url: str, response: str, timeout_s: float | None = None) -> httpx.Response:
    body: dict[str, object] = {"items": [{"prompt": "p", "response": response}]}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return httpx.post(f"{url}/v1/score", json=body, timeout=120)


def test_saturation_deadline_and_overload(gated_server: tuple[Server, Path], tiny_encoder_dir: Path) -> None:
    server, gate = gated_server
    gate.touch()
    with ThreadPoolExecutor(8) as pool:
        running = pool.submit(post_one, server.url, "first")
        wait_until(lambda: server.metric("rmserve_busy_workers") == 1)
        assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"
        late = post_one(server.url, "late", timeout_s=0.3)
        assert late.status_code == 504 and late.json()["error"]["type"] == "deadline_exceeded"
        queued = [pool.submit(post_one, server.url, f"queued {i}") for i in range(4)]
        wait_until(lambda: server.metric("rmserve_queue_items") == 4)
        refused = post_one(server.url, "one too many")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        gate.unlink()
        answers = [f.result() for f in [running, *queued]]
    assert [a.status_code for a in answers] == [200] * 5
    texts = ["first", *[f"queued {i}" for i in range(4)]]
    for answer, text in zip(answers, texts, strict=True):
        assert answer.json()["scores"] == pytest.approx([expected_score(tiny_encoder_dir, "p", text)])


def test_sigterm_finishes_every_accepted_request(gated_server: tuple[Server, Path], tiny_encoder_dir: Path) -> None:
    server, gate = gated_server
    gate.touch()
    with ThreadPoolExecutor(5) as pool:
        in_flight = [pool.submit(post_one, server.url, f"in flight {i}") for i in range(5)]
        wait_until(lambda: server.metric("rmserve_busy_workers") == 1 and server.metric("rmserve_queue_items") == 4)
        server.process.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                return post_one(server.url, "after SIGTERM").status_code == 503
            except httpx.TransportError:
                return True

        wait_until(refused)
        gate.unlink()
        answers = [f.result() for f in in_flight]
    assert [a.status_code for a in answers] == [200] * 5
    for i, answer in enumerate(answers):
        assert answer.json()["scores"] == pytest.approx([expected_score(tiny_encoder_dir, "p", f"in flight {i}")])
    assert server.process.wait(timeout=60) == 0
