"""Security against the real server process (and, where a process adds nothing, in-process):

- API keys are enforced per route (a FastAPI dependency), so no crafted request line reaches a scoring
  handler without a key: doubled slashes, trailing slashes, case, %-encoding, dot segments, other methods;
  keys are compared with `hmac.compare_digest` against every configured key (no early exit);
- no prompt or response text in the server's logs at the default log level, also on error paths;
- safetensors only: a folder of pickle weights is refused, and a pickle beside safetensors is never run;
- `trust_remote_code` is off unless the operator sets it;
- a non-loopback bind needs API keys or `behind_gateway`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute

from loadtest.server import REPO_ROOT
from service import auth
from service.app import create_app
from service.auth import require_api_key
from service.model_loading import load_model
from service.settings import Settings, UnsafeBindError, check_bind_safety
from tests.reliability.backends import PASS_MS_ENV
from tests.reliability.conftest import ServerProcess, record_figures, rerun_command, start_server

KEY = "reliability-security-key-0123456789"
OPEN_PATHS = {"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/docs-assets", "/openapi.json"}
SCORE_BODY = {"items": [{"prompt": "p", "response": "r"}]}


@pytest.fixture(scope="module")
def keyed_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[ServerProcess]:
    # The default log level (info) on purpose: what an operator gets without asking for anything.
    settings = {
        "backend_factory": "tests.reliability.backends:slow_backend",
        "api_keys": f"another-key,{KEY}",
        "max_items_per_request": "8",
        "max_chars_per_text": "1000",
        "profile_budget_s": "0",
    }
    server = start_server(tiny_encoder_dir, settings, log_dir, env={PASS_MS_ENV: "0"})
    yield server
    server.stop()


def raw_request(url: str, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> int:
    """Send one request line exactly as written (no client-side path normalisation); return the status."""
    parts = urlsplit(url)
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if body or method in ("POST", "PUT", "PATCH"):
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        received = b""
        while b"\r\n" not in received:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    if not received:
        return 0  # the server closed the connection without answering (a refusal too)
    return int(received.split(b" ", 2)[1])


CRAFTED_TARGETS = [
    "/v1/score",
    "//v1/score",
    "/v1//score",
    "/v1/score/",
    "/v1/score//",
    "/V1/score",
    "/v1/SCORE",
    "/v1%2Fscore",
    "%2Fv1%2Fscore",
    "/v1/%73core",
    "/v1/./score",
    "/./v1/score",
    "/v1/../v1/score",
    "/x/../v1/score",
    "/v1/score?api_key=" + KEY,
    "/v1/score;x=1",
    "/v1/score%00",
    "/v1/score%20",
    "/v1/score#frag",
    "http://127.0.0.1/v1/score",
    "/get_reward",
    "//get_reward",
    "/get_reward/",
    "/classify",
    "/classify/",
    "/v1/rank",
    "/v1/compare",
    "/v1/gate",
    "/v1/models",
    "/v1/models/",
]
METHODS = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"]
BAD_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {KEY[:-1]}"},
    {"Authorization": f"Bearer {KEY}x"},
    {"Authorization": f"Bearer {KEY.upper()}"},
    {"Authorization": f"Basic {KEY}"},
    {"Authorization": KEY},
    {"X-API-Key": KEY},
    {"Cookie": f"api_key={KEY}"},
]


def test_api_keys_hold_on_every_route_and_crafted_path(keyed_server: ServerProcess) -> None:
    url = keyed_server.url
    body = json.dumps(SCORE_BODY).encode()
    tried = 0
    leaks: list[str] = []
    for target in CRAFTED_TARGETS:
        for method in METHODS:
            for credentials in BAD_CREDENTIALS:
                status = raw_request(url, method, target, credentials, body if method == "POST" else b"")
                tried += 1
                if 200 <= status < 300:
                    leaks.append(f"{method} {target} {credentials}: {status}")
    assert not leaks, leaks
    # The key works where it should, and the probes stay open without one.
    good = {"Authorization": f"Bearer {KEY}"}
    assert raw_request(url, "POST", "/v1/score", good, body) == 200
    assert raw_request(url, "POST", "/v1/score", {"Authorization": f"bearer {KEY}"}, body) == 200
    assert raw_request(url, "GET", "/v1/models", good) == 200
    for probe in ("/health", "/ready", "/metrics"):
        assert raw_request(url, "GET", probe, {}) == 200, probe
    record_figures(
        "security: crafted paths without a valid key",
        rerun_command("test_security.py", "test_api_keys_hold_on_every_route_and_crafted_path"),
        sent=tried,
        succeeded=0,
        refused=tried,
        failed=len(leaks),
        lost=0,
        note=f"{len(CRAFTED_TARGETS)} request targets x {len(METHODS)} methods x {len(BAD_CREDENTIALS)} bad "
        "credentials: none answered 2xx (401, 404 or 405 each)",
    )


def all_routes(routes: Sequence[Any]) -> Iterator[Any]:
    """The app's routes, with those of included routers (FastAPI keeps them behind an included-router object)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from all_routes(included.routes)
        else:
            yield route


def test_every_route_but_the_probes_requires_a_key(tiny_encoder_dir: Path) -> None:
    """Enforcement is per route: every API route except the open probes carries the key dependency."""
    app = create_app(Settings(model=tiny_encoder_dir, api_keys=KEY))
    guarded = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            assert route.path in OPEN_PATHS, route.path
            continue
        calls = {dependency.call for dependency in route.dependant.dependencies}
        if route.path not in OPEN_PATHS:
            assert require_api_key in calls, f"{route.path} does not require an API key"
            guarded.append(route.path)
    assert {"/v1/score", "/v1/rank", "/v1/compare", "/v1/gate", "/get_reward", "/classify", "/v1/models"} <= set(
        guarded
    )


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time_compare = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time_compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording_compare)
    keys = ["first-key", "second-key", "third-key"]
    for presented, expected in (("first-key", True), ("third-key", True), ("nope", False), ("", False)):
        compared.clear()
        assert auth.key_matches(presented, keys) is expected
        # No early exit on a match or a mismatch: every key is compared, with the constant-time function.
        assert [b for _, b in compared] == [key.encode() for key in keys]


def test_no_prompt_or_response_text_in_the_logs(keyed_server: ServerProcess) -> None:
    marker = f"SECRET-{uuid.uuid4().hex}"
    good = {"Authorization": f"Bearer {KEY}"}
    requests: list[tuple[str, Any]] = [
        ("/v1/score", {"items": [{"prompt": marker, "response": marker}]}),
        ("/v1/score", {"items": [{"prompt": [{"role": "user", "content": marker}], "response": marker}]}),
        ("/v1/rank", {"prompt": marker, "responses": [marker, "b"]}),
        ("/v1/compare", {"prompt": marker, "response_a": marker, "response_b": "b"}),
        ("/v1/gate", {"prompt": marker, "response": marker}),
        ("/get_reward", {"query": [marker + marker], "prompts": [marker]}),
        ("/classify", {"input": [marker], "use_activation": False}),
        # Error paths: validation, limits, unknown fields, bad encodings, a missing key.
        ("/v1/score", {"items": [{"prompt": marker, "response": marker * 100}]}),
        ("/v1/score", {"items": [{"prompt": marker, "response": marker}]} | {marker: 1}),
        ("/v1/score", {"items": [{"prompt": marker, "response": 5}]}),
        ("/v1/score", {"items": [{"prompt": marker, "response": marker}] * 9}),
        ("/v1/score", {"items": [{"prompt": [{"role": marker, "content": marker}], "response": marker}]}),
        ("/v1/gate", {"prompt": marker, "response": marker, "threshold": marker}),
    ]
    statuses = []
    with httpx.Client(base_url=keyed_server.url, timeout=60) as http:
        for path, payload in requests:
            statuses.append(http.post(path, json=payload, headers=good).status_code)
        statuses.append(http.post("/v1/score", json=requests[0][1]).status_code)
        raw = f'{{"items": [{{"prompt": "{marker}\\ud800", "response": "{marker}"}}]}}'
        statuses.append(
            http.post("/v1/score", content=raw, headers={**good, "content-type": "application/json"}).status_code
        )
        statuses.append(
            http.post(
                "/v1/score", content=f"{{{marker}", headers={**good, "content-type": "application/json"}
            ).status_code
        )
    assert statuses[:7] == [200] * 7 and all(400 <= s < 500 for s in statuses[7:]), statuses
    log = keyed_server.log_text()
    assert "ready" in log, "the server logged nothing at its default level: the check would prove nothing"
    assert marker not in log
    assert marker[len("SECRET-") :] not in log


def test_pickle_weights_are_refused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickle-only"
    folder.mkdir()
    for item in tiny_encoder_dir.iterdir():
        if item.suffix != ".safetensors":
            shutil.copy(item, folder / item.name)
    (folder / "pytorch_model.bin").write_bytes(b"not even looked at")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMSERVE_")}
    command = [sys.executable, "-m", "service.cli", "serve", "--model", str(folder), "--port", "1"]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "safetensors only" in done.stderr


class _Payload:
    """A pickle that, when loaded, creates a directory: proof that the pickle was run."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.makedirs, (str(self.sentinel),))


def test_a_pickle_beside_safetensors_is_never_run(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(tiny_encoder_dir, folder)
    sentinel = tmp_path / "pickle-was-run"
    for name in ("pytorch_model.bin", "training_args.bin", "model.pt"):
        (folder / name).write_bytes(pickle.dumps(_Payload(sentinel), protocol=4))
    model = load_model(Settings(model=folder, workers=1))
    try:
        assert model.backend.score([model.formatter.encode("p", "r")]).shape == (1,)
    finally:
        model.backend.close()
    assert not sentinel.exists()


EVIL_MODULE = """
from pathlib import Path
Path({sentinel!r}).mkdir()
from transformers import BertForSequenceClassification as EvilModel
"""


def test_remote_code_is_not_run_unless_the_operator_sets_it(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_encoder_dir, folder)
    sentinel = tmp_path / "remote-code-was-run"
    (folder / "modeling_evil.py").write_text(EVIL_MODULE.format(sentinel=str(sentinel)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    assert Settings().trust_remote_code is False
    model = load_model(Settings(model=folder, workers=1))
    model.backend.close()
    assert not sentinel.exists(), "the folder's own code ran without trust_remote_code"
    # The switch is real: with it set, the folder's code is what loads the model.
    # Whether the folder's code then makes a working model does not matter; that it ran does.
    with contextlib.suppress(Exception):
        load_model(Settings(model=folder, workers=1, trust_remote_code=True)).backend.close()
    assert sentinel.exists()


@pytest.mark.parametrize(
    ("host", "keys", "behind_gateway", "allowed"),
    [
        ("127.0.0.1", "", False, True),
        ("127.0.0.2", "", False, True),
        ("::1", "", False, True),
        ("localhost", "", False, True),
        ("0.0.0.0", "", False, False),
        ("::", "", False, False),
        ("10.1.2.3", "", False, False),
        ("example.com", "", False, False),
        ("0.0.0.0", " , ", False, False),
        ("0.0.0.0", "k", False, True),
        ("0.0.0.0", "", True, True),
    ],
)
def test_a_public_bind_needs_keys_or_a_gateway(host: str, keys: str, behind_gateway: bool, allowed: bool) -> None:
    settings = Settings(host=host, api_keys=keys, behind_gateway=behind_gateway)
    if allowed:
        check_bind_safety(settings)
    else:
        with pytest.raises(UnsafeBindError):
            check_bind_safety(settings)
