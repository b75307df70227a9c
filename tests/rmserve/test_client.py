"""The blocking client against a scripted server (httpx.MockTransport): chunking and order, retries and
Retry-After, the typed errors, the total timeout. The same client against the real server process is in
test_client_server.py, the async one in test_client_async.py."""

from __future__ import annotations

import itertools
import json
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from rmserve import (
    APIStatusError,
    AuthenticationError,
    ClientTimeoutError,
    ConnectionFailedError,
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    PayloadTooLargeError,
    RetryPolicy,
    RewardClient,
    ServerError,
    UnexpectedResponseError,
)
from rmserve._core import DEFAULT_BASE_URL, ClientConfig, Limits, chunk_bounds, encode_json, retry_after_s
from tests.rmserve.fake_server import FakeRewardServer, fake_score


class RecordingSleep:
    """Stands in for time.sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(server: FakeRewardServer, **kwargs: object) -> tuple[RewardClient, RecordingSleep]:
    client = RewardClient("http://rm.test", transport=httpx.MockTransport(server.handler), **kwargs)  # type: ignore[arg-type]
    sleep = RecordingSleep()
    client._sleep = sleep
    return client, sleep


def pairs(n: int) -> list[tuple[str, str]]:
    return [(f"prompt {i % 7}", f"response number {i} " + "x" * (i % 13)) for i in range(n)]


@pytest.fixture
def server() -> FakeRewardServer:
    return FakeRewardServer()


def test_chunks_respect_the_cap_run_concurrently_and_come_back_in_order() -> None:
    concurrency = 4
    barrier = threading.Barrier(concurrency, timeout=10)  # every round of 4 chunks must be in flight at once
    in_flight, peak = 0, 0
    lock = threading.Lock()
    server = FakeRewardServer()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        barrier.wait()
        try:
            return server.handler(request)
        finally:
            with lock:
                in_flight -= 1

    data = pairs(1024)
    with RewardClient(
        "http://rm.test",
        transport=httpx.MockTransport(handler),
        max_items_per_request=64,
        max_body_bytes=1 << 20,
        max_concurrency=concurrency,
    ) as client:
        result = client.score(data)

    sizes = [len(body["items"]) for body in server.bodies("/v1/score")]
    assert sizes == [64] * 16
    assert peak == concurrency
    assert result.scores == [fake_score(p, r) for p, r in data]
    assert [item.normalized for item in result.items] == [s / 10 for s in result.scores]
    assert result.model == "fake-rm" and result.weights_digest == "sha256:fake"


def test_limits_are_read_once_from_the_server(server: FakeRewardServer) -> None:
    server.max_items_per_request = 10
    client, _ = make_client(server)
    with client:
        first = client.score(pairs(25))
        second = client.score(pairs(3))
    assert [len(b["items"]) for b in server.bodies("/v1/score")] == [10, 10, 5, 3]
    assert sum(r.url.path == "/v1/models" for r in server.requests) == 1
    assert first.scores[:3] == second.scores


def test_chunks_fit_the_body_cap() -> None:
    items = [{"prompt": "p", "response": "y" * random.Random(i).randint(1, 3000)} for i in range(200)]
    items.insert(50, {"prompt": "p", "response": "z" * 50_000})  # larger than the cap on its own
    limits = Limits(max_items_per_request=1000, max_body_bytes=20_000)
    bounds = chunk_bounds(items, limits)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(items)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    for start, end in bounds:
        body = encode_json({"items": items[start:end], "timeout_s": 60.0})
        assert len(body) <= limits.max_body_bytes or end - start == 1


def test_chunked_rank_of_a_large_group_is_ranked_locally(server: FakeRewardServer) -> None:
    client, _ = make_client(server, max_items_per_request=8, max_body_bytes=1 << 20)
    responses = [f"answer {'!' * (i * 7 % 11)} {i}" for i in range(30)]
    with client:
        result = client.rank("Which?", responses, top_k=5)
        small = client.rank("Which?", responses[:8])
    scores = [fake_score("Which?", r) for r in responses]
    assert result.scores == scores
    assert result.ranking == sorted(range(30), key=lambda i: -scores[i])[:5]
    assert result.best_index == result.ranking[0]
    assert abs(sum(result.zscores)) < 1e-9
    assert len(server.bodies("/v1/score")) == 4 and len(server.bodies("/v1/rank")) == 1
    assert small.ranking == sorted(range(8), key=lambda i: -scores[i])


def test_compare_gate_models_health_and_the_api_key(server: FakeRewardServer) -> None:
    client, _ = make_client(server, api_key="s3cret", max_items_per_request=64, max_body_bytes=1 << 20)
    messages = [{"role": "user", "content": "hi"}]
    with client:
        compared = client.compare(messages, "long answer", "short")
        gated = client.gate("q", "a response", threshold=100.0)
        assert client.models()["model"] == "fake-rm"
        assert client.health()["status"] == "ok"
    assert compared.score_a == fake_score(messages, "long answer") and compared.prob_a_preferred == 0.5
    assert compared.calibrated_prob_a_preferred == 0.25
    assert not gated.allow and gated.decision == "block" and gated.threshold == 100.0
    assert server.bodies("/v1/compare")[0]["prompt"] == messages
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in server.requests)


def test_the_priority_goes_in_every_request_header(server: FakeRewardServer) -> None:
    client, _ = make_client(server, priority="interactive")
    with client:
        client.gate("q", "a response")
        client.score([("q", "a"), ("q", "b")])
    assert [r.headers["x-rmserve-priority"] for r in server.requests if r.method == "POST"] == ["interactive"] * 2
    plain, _ = make_client(server)
    with plain:
        plain.gate("q", "a response")
    assert "x-rmserve-priority" not in server.requests[-1].headers  # the server's per-route default applies
    with pytest.raises(ValueError, match="priority"):
        RewardClient(priority="urgent")  # type: ignore[arg-type]


def test_compare_batch_chunks_by_scored_items_and_keeps_order(server: FakeRewardServer) -> None:
    client, _ = make_client(server, max_items_per_request=8, max_body_bytes=1 << 20)
    messages = [{"role": "user", "content": "hi"}]
    comparisons: list[object] = [(f"q{i}", "a" * (i % 5 + 1), "b" * (i % 3 + 1)) for i in range(9)]
    comparisons.append({"prompt": messages, "response_a": "yes", "response_b": "no thanks"})
    with client:
        results = client.compare_batch(comparisons)  # type: ignore[arg-type]
    # The server counts a comparison as two scored items: 8 items a request is 4 comparisons.
    assert [len(body["pairs"]) for body in server.bodies("/v1/compare")] == [4, 4, 2]
    expected = [(fake_score(p, a), fake_score(p, b)) for p, a, b in comparisons[:9]]  # type: ignore[misc]
    expected.append((fake_score(messages, "yes"), fake_score(messages, "no thanks")))
    assert [(r.score_a, r.score_b) for r in results] == expected
    assert [r.prob_a_preferred for r in results] == [1.0 if a > b else 0.0 for a, b in expected]
    assert all(r.calibrated_prob_a_preferred is None for r in results)
    assert all(r.model == "fake-rm" and r.weights_digest == "sha256:fake" for r in results)
    assert server.bodies("/v1/compare")[2]["pairs"][1]["prompt"] == messages


def test_compare_batch_refuses_bad_input_before_sending(server: FakeRewardServer) -> None:
    client, _ = make_client(server, max_items_per_request=8, max_body_bytes=1 << 20)
    with client:
        with pytest.raises(ValueError, match="at least one"):
            client.compare_batch([])
        with pytest.raises(TypeError, match="response_b"):
            client.compare_batch([{"prompt": "q", "response_a": "a"}])
        with pytest.raises(TypeError, match="strings"):
            client.compare_batch([("q", "a", 3)])  # type: ignore[list-item]
    assert server.bodies("/v1/compare") == []


def test_compare_batch_answers_are_checked() -> None:
    server = FakeRewardServer()
    one_result = {"model": "fake-rm", "results": [{"score_a": 1.0, "score_b": 0.0, "prob_a_preferred": 0.7}]}
    server.script.append((200, {}, one_result))
    client, _ = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
    with client, pytest.raises(UnexpectedResponseError, match="asked for 2 comparisons"):
        client.compare_batch([("q", "a", "b"), ("q", "c", "d")])


def test_retries_429_and_503_honouring_retry_after(server: FakeRewardServer) -> None:
    overloaded = {"error": {"type": "overloaded", "message": "queue full"}}
    server.script.extend([(429, {"Retry-After": "2"}, overloaded), (503, {"Retry-After": "1"}, overloaded)])
    client, sleep = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
    with client:
        result = client.score(pairs(3))
    assert result.scores == [fake_score(p, r) for p, r in pairs(3)]
    assert len(server.bodies("/v1/score")) == 3
    assert len(sleep.waits) == 2
    assert 2.0 <= sleep.waits[0] <= 2.4 and 1.0 <= sleep.waits[1] <= 1.2


def test_retries_connection_errors_with_bounded_backoff(server: FakeRewardServer) -> None:
    server.script.extend([httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.RemoteProtocolError("eof")])
    policy = RetryPolicy(max_attempts=5, backoff_initial_s=0.5, backoff_max_s=1.0)
    client, sleep = make_client(server, retry=policy, max_items_per_request=64, max_body_bytes=1 << 20)
    with client:
        assert len(client.score(pairs(2)).scores) == 2
    assert len(sleep.waits) == 3
    assert all(0 <= w <= ceiling for w, ceiling in zip(sleep.waits, [0.5, 1.0, 1.0], strict=True))


def test_gives_up_after_max_attempts(server: FakeRewardServer) -> None:
    server.script.extend([(503, {}, {"error": {"type": "unavailable", "message": "loading"}})] * 3)
    client, sleep = make_client(
        server, retry=RetryPolicy(max_attempts=3), max_items_per_request=64, max_body_bytes=1 << 20
    )
    with client, pytest.raises(OverloadedError) as info:
        client.score(pairs(1))
    assert info.value.status_code == 503 and info.value.error_type == "unavailable"
    assert len(server.requests) == 3 and len(sleep.waits) == 2


def test_a_retry_after_beyond_the_total_timeout_fails_at_once(server: FakeRewardServer) -> None:
    server.script.append((429, {"Retry-After": "120"}, {"error": {"type": "overloaded", "message": "full"}}))
    client, sleep = make_client(server, timeout_s=10.0, max_items_per_request=64, max_body_bytes=1 << 20)
    with client, pytest.raises(OverloadedError) as info:
        client.score(pairs(1))
    assert info.value.retry_after_s == 120.0
    assert sleep.waits == [] and len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (422, "invalid_request", InvalidRequestError),
        (400, "invalid_request", InvalidRequestError),
        (413, "payload_too_large", PayloadTooLargeError),
        (401, "unauthenticated", AuthenticationError),
        (504, "deadline_exceeded", DeadlineExceededError),
        (500, "backend_error", ServerError),
        (404, "not_found", APIStatusError),
    ],
)
def test_error_statuses_raise_their_type_without_retrying(
    server: FakeRewardServer, status: int, error_type: str, expected: type[APIStatusError]
) -> None:
    server.script.append((status, {}, {"error": {"type": error_type, "message": "what went wrong"}}))
    client, sleep = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
    with client, pytest.raises(expected) as info:
        client.score(pairs(1))
    assert type(info.value) is expected
    assert (info.value.status_code, info.value.error_type, info.value.message) == (
        status,
        error_type,
        "what went wrong",
    )
    assert len(server.requests) == 1 and sleep.waits == []


def test_a_proxy_error_page_still_gives_a_typed_error(server: FakeRewardServer) -> None:
    server.script.append((502, {}, "<html>Bad Gateway</html>"))
    client, _ = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
    with client, pytest.raises(ServerError) as info:
        client.score(pairs(1))
    assert info.value.status_code == 502 and "Bad Gateway" in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        {"model": "m", "weights_digest": "d", "scores": [1.0]},  # one score for two items
        {"model": "m", "weights_digest": "d", "scores": [1.0, "x"]},
        {"scores": [1.0, 2.0]},
    ],
)
def test_malformed_answers_raise_unexpected_response(server: FakeRewardServer, body: object) -> None:
    server.script.append((200, {}, body))
    client, _ = make_client(server, max_items_per_request=64, max_body_bytes=1 << 20)
    with client, pytest.raises(UnexpectedResponseError):
        client.score(pairs(2))


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.score(pairs(4)),
        lambda client: client.compare_batch([("q", "a", "b"), ("q", "c", "d")]),
    ],
    ids=["score", "compare_batch"],
)
def test_a_model_swapped_between_chunks_is_refused(call: Callable[[RewardClient], object]) -> None:
    server = FakeRewardServer()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        server.model = "fake-rm" if calls == 1 else "another-rm"
        return server.handler(request)

    transport = httpx.MockTransport(handler)
    with (
        RewardClient(
            "http://rm.test", transport=transport, max_items_per_request=2, max_body_bytes=1 << 20, max_concurrency=1
        ) as client,
        pytest.raises(UnexpectedResponseError, match="different models"),
    ):
        call(client)


def test_a_failed_chunk_fails_the_call_with_its_error(server: FakeRewardServer) -> None:
    server.script.append((422, {}, {"error": {"type": "invalid_request", "message": "items.0.response: bad"}}))
    client, _ = make_client(server, max_items_per_request=2, max_body_bytes=1 << 20, max_concurrency=1)
    with client, pytest.raises(InvalidRequestError, match=r"items\.0\.response"):
        client.score(pairs(10))
    assert len(server.bodies("/v1/score")) < 5  # the chunks not yet started were cancelled


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_the_total_timeout_bounds_the_call(silent_port: int) -> None:
    with (
        RewardClient(
            f"http://127.0.0.1:{silent_port}", timeout_s=0.3, max_items_per_request=8, max_body_bytes=1 << 20
        ) as client,
        pytest.raises(ClientTimeoutError),
    ):
        client.score(pairs(1))


def test_an_unreachable_server_raises_connection_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        policy = RetryPolicy(max_attempts=2, backoff_initial_s=0.01)
        with RewardClient(f"http://127.0.0.1:{port}", retry=policy, timeout_s=5) as client:
            with pytest.raises(ConnectionFailedError):
                client.health()
            assert client.ready() is False


def test_input_is_checked_before_sending(server: FakeRewardServer) -> None:
    client, _ = make_client(server, max_items_per_request=8, max_body_bytes=1 << 20)
    with client:
        with pytest.raises(ValueError):
            client.score([])
        with pytest.raises(TypeError):
            client.score([("prompt", 3)])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            client.score([{"prompt": "only a prompt"}])
    assert server.requests == []


def test_lone_surrogates_reach_the_server_escaped(server: FakeRewardServer) -> None:
    client, _ = make_client(server, max_items_per_request=8, max_body_bytes=1 << 20)
    with client:
        client.score([("p", "bad \ud800 text")])
    raw = server.requests[0].content
    assert b"\\ud800" in raw and json.loads(raw)["items"][0]["response"] == "bad \ud800 text"


def test_retry_after_accepts_seconds_and_dates() -> None:
    assert retry_after_s(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after_s(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # in the past
    assert retry_after_s(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_s(httpx.Headers({})) is None


def test_a_configuration_from_the_environment() -> None:
    env = {"RMSERVE_URL": " http://rm-a:8000 ", "RMSERVE_API_KEY": "key-1", "RMSERVE_TIMEOUT_S": "120"}
    config = ClientConfig.from_env(env)
    assert (config.base_url, config.api_key, config.timeout_s) == ("http://rm-a:8000", "key-1", 120.0)
    assert config.headers()["Authorization"] == "Bearer key-1"
    # unset or empty: the defaults
    assert ClientConfig.from_env({"RMSERVE_API_KEY": "", "RMSERVE_TIMEOUT_S": " "}) == ClientConfig()
    assert ClientConfig.from_env({}).base_url == DEFAULT_BASE_URL
    for bad in ("soon", "0", "-5", "inf", "nan"):
        with pytest.raises(ValueError, match="RMSERVE_TIMEOUT_S"):
            ClientConfig.from_env({"RMSERVE_TIMEOUT_S": bad})


def test_the_client_imports_without_server_or_ml_packages() -> None:
    # rmserve.openrlhf also as OpenRLHF loads it, from its file path; its torch is imported inside the function.
    code = (
        "import importlib.util, sys, rmserve, rmserve.trl, rmserve.openrlhf\n"
        "spec = importlib.util.spec_from_file_location('reward_func', rmserve.openrlhf.__file__)\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = ('fastapi', 'starlette', 'uvicorn', 'torch', 'onnxruntime', 'transformers', 'service', 'models')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
