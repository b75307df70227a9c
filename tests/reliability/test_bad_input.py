"""Bad input against the real server process: schemathesis fuzzing of every operation in the OpenAPI
schema (valid and invalid data), each answer also checked against the schema (a documented status,
content type and body, so that a client generated from it can read every answer), then hand-made cases
for what a generator rarely builds: huge and chunked bodies, deep JSON, megabyte texts, lone surrogates,
NUL bytes, wrong types, empty lists, extreme numbers, unknown fields and wrong content types.

The server scores with the reference fake backend (the tokenizer and formatting are the real model's),
since the scenario is about the service's handling of input. The contract, for every case: never a 5xx,
never a hang (each request has a client timeout), an error is 4xx with the body
{"error": {"type", "message"}}, and the limits hold (413 for what is over them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.backends import PASS_MS_ENV
from tests.reliability.conftest import ServerProcess, record_figures, rerun_command, start_server

KEY = "reliability-input-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_ITEMS = 32
MAX_CHARS = 100_000
MAX_BODY_BYTES = 2_000_000
EXAMPLES_PER_OPERATION_AND_MODE = 50
CLIENT_TIMEOUT_S = 60.0
SCHEMA_CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
# Bodies the JSON parser cannot read: 422 for a syntax error, 400 ("error parsing the body") for what the
# parser itself gives up on (nesting too deep, invalid UTF-8, an integer literal too long to convert).
UNREADABLE = (400, 422)


@pytest.fixture(scope="module")
def input_server(tiny_encoder_dir: Path, log_dir: Path) -> Iterator[ServerProcess]:
    # The scenario is about the service's handling of input, so the model is the reference fake (tokenizer
    # and formatting are the real ones): the fuzzer's valid cases cost no forward passes.
    settings = {
        "backend_factory": "tests.reliability.backends:slow_backend",
        "api_keys": KEY,
        "max_length": "128",
        "max_items_per_request": str(MAX_ITEMS),
        "max_chars_per_text": str(MAX_CHARS),
        "max_body_bytes": str(MAX_BODY_BYTES),
        "profile_budget_s": "0",
        "log_level": "warning",
    }
    server = start_server(tiny_encoder_dir, settings, log_dir, env={PASS_MS_ENV: "0"})
    yield server
    server.stop()


def error_shape_problem(status: int, body: bytes, own_deadline: bool = False) -> str | None:
    """Why an answer breaks the contract (None when it keeps it). A 504 is the contract's answer only to a
    request that set its own (short) deadline."""
    if status >= 500 and not (status == 504 and own_deadline):
        return f"status {status}"
    if status < 400:
        return None
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"status {status} without the error body: {body[:200]!r}"
    if not isinstance(error.get("type"), str) or not isinstance(error.get("message"), str):
        return f"status {status} with a malformed error body: {body[:200]!r}"
    return None


def fuzz_operation(operation: Any, mode: GenerationMode, url: str, statuses: Counter[int], problems: list[str]) -> None:
    """Send up to EXAMPLES_PER_OPERATION_AND_MODE generated cases of `operation`; count their statuses and
    note every answer that breaks the contract."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one_case(case: Any) -> None:
        response = case.call(base_url=url, headers=AUTH, timeout=CLIENT_TIMEOUT_S)
        statuses[response.status_code] += 1
        own_deadline = isinstance(case.body, dict) and isinstance(case.body.get("timeout_s"), float | int)
        problem = error_shape_problem(response.status_code, response.content, own_deadline)
        if problem is None:
            try:
                case.validate_response(response, checks=SCHEMA_CONFORMANCE)
            except FailureGroup as failures:
                problem = "answer not as documented: " + "; ".join(f.title for f in failures.exceptions)
        if problem is not None:
            problems.append(f"{case.method} {case.formatted_path} {mode.value}: {problem}; body={case.body!r:.300}")

    one_case()


def test_fuzz_every_operation_from_the_openapi_schema(input_server: ServerProcess) -> None:
    url = input_server.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=30)
    statuses: Counter[int] = Counter()
    operations: list[str] = []
    problems: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI schema has an invalid operation: {result.err()}"
        operation = result.ok()
        operations.append(f"{operation.method.upper()} {operation.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, url, statuses, problems)
            except Unsatisfiable:
                # An operation without parameters or body (GET /health) has nothing to make invalid.
                assert mode == GenerationMode.NEGATIVE, operations[-1]
    expected = {
        "POST /v1/score",
        "POST /v1/rank",
        "POST /v1/compare",
        "POST /v1/gate",
        "POST /get_reward",
        "POST /classify",
    }
    assert expected <= set(operations), operations
    assert not problems, problems[:10]
    assert httpx.get(f"{url}/ready", timeout=30).status_code == 200
    tried = sum(statuses.values())
    record_figures(
        "bad input: schemathesis fuzzing",
        rerun_command("test_bad_input.py", "test_fuzz_every_operation_from_the_openapi_schema"),
        sent=tried,
        succeeded=sum(n for s, n in statuses.items() if s < 400),
        refused=sum(n for s, n in statuses.items() if s >= 400) - len(problems),
        failed=len(problems),
        lost=0,
        deadline_504=statuses.get(504, 0),
        operations=len(operations),
        statuses={str(s): n for s, n in sorted(statuses.items())},
        note=f"{tried} generated cases (valid and invalid) over {len(operations)} operations; 'refused' here "
        "means the error the contract prescribes: a 4xx with the error body for invalid input, or a 504 for "
        "a valid request whose own generated timeout_s was too short to meet (deadline_504 of them)",
    )


@dataclass(frozen=True)
class RawCase:
    name: str
    path: str
    content: Any  # bytes, or an iterator of bytes (sent chunked, without a Content-Length)
    expect: frozenset[int]
    method: str = "POST"
    content_type: str | None = "application/json"


def raw(name: str, path: str, content: Any, *expect: int, **kwargs: Any) -> RawCase:
    body = content if isinstance(content, bytes) or not isinstance(content, (dict, list, str)) else None
    if body is None:
        body = (
            json.dumps(content).encode() if not isinstance(content, str) else content.encode("utf-8", "surrogatepass")
        )
    return RawCase(name, path, body, frozenset(expect), **kwargs)


def chunked(total_bytes: int) -> Iterator[bytes]:
    yield b'{"items": [{"prompt": "a", "response": "'
    sent = 0
    while sent < total_bytes:
        yield b"x" * 65536
        sent += 65536
    yield b'"}]}'


def item(prompt: Any = "p", response: Any = "r") -> dict[str, Any]:
    return {"prompt": prompt, "response": response}


def hand_made_cases() -> list[RawCase]:
    big = "x" * 1_000_000
    cases = [
        # Sizes: the body cap holds with and without a length; the per-text and per-request caps hold.
        raw("body over the cap", "/v1/score", {"items": [item("p", "y" * (MAX_BODY_BYTES + 10))]}, 413),
        raw("chunked body over the cap", "/v1/score", chunked(MAX_BODY_BYTES + 100_000), 413),
        raw("chunked body under the cap", "/v1/score", chunked(10_000), 200),
        raw("1e6-char response", "/v1/score", {"items": [item("p", big)]}, 413),
        raw("1e6-char prompt", "/v1/score", {"items": [item(big, "r")]}, 413),
        raw("1e6-char message", "/v1/score", {"items": [item([{"role": "user", "content": big}], "r")]}, 413),
        raw("1e6-char gate response", "/v1/gate", {"prompt": "p", "response": big}, 413),
        raw("1e6-char reward query", "/get_reward", {"query": [big]}, 413),
        raw("1e6-char classify input", "/classify", {"input": big}, 413),
        raw("1e6 chars of pad text", "/get_reward", {"query": ["[PAD]" * 200_000]}, 413),
        raw("text at the char cap", "/v1/score", {"items": [item("p", "word " * (MAX_CHARS // 5))]}, 200),
        raw("items over the cap", "/v1/score", {"items": [item()] * (MAX_ITEMS + 1)}, 413),
        raw("responses over the cap", "/v1/rank", {"prompt": "p", "responses": ["r"] * (MAX_ITEMS + 1)}, 413),
        raw(
            "compare pairs over the cap",
            "/v1/compare",
            {"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}] * MAX_ITEMS},
            413,
        ),
        raw("query over the cap", "/get_reward", {"query": ["q"] * (MAX_ITEMS + 1)}, 413),
        raw("classify inputs over the cap", "/classify", {"input": ["q"] * (MAX_ITEMS + 1)}, 413),
        # Deep JSON.
        raw("deep JSON arrays", "/v1/score", b"[" * 100_000 + b"]" * 100_000, *UNREADABLE),
        raw("deep JSON objects", "/v1/score", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, *UNREADABLE),
        raw(
            "deep prompt",
            "/v1/score",
            b'{"items": [{"prompt": ' + b"[" * 20_000 + b"]" * 20_000 + b', "response": "r"}]}',
            *UNREADABLE,
        ),
        raw("unclosed deep JSON", "/v1/score", b"[" * 100_000, *UNREADABLE),
        # Encodings.
        raw("lone surrogate in response", "/v1/score", '{"items": [{"prompt": "p", "response": "\\ud800"}]}', 422),
        raw("lone low surrogate in prompt", "/v1/gate", '{"prompt": "\\udfff", "response": "r"}', 422),
        raw(
            "lone surrogate in a message",
            "/v1/score",
            '{"items": [{"prompt": [{"role": "user", "content": "a\\udbff"}], "response": "r"}]}',
            422,
        ),
        raw("lone surrogate in reward query", "/get_reward", '{"query": ["\\ud800"]}', 422),
        raw("lone surrogate in classify input", "/classify", '{"input": "\\ud800"}', 422),
        raw("invalid UTF-8 bytes", "/v1/score", b'{"items": [{"prompt": "\xff\xfe", "response": "r"}]}', *UNREADABLE),
        raw("escaped NUL in texts", "/v1/score", {"items": [item("a\u0000b", "\u0000" * 100)]}, 200),
        raw(
            "raw NUL byte in a string", "/v1/score", b'{"items": [{"prompt": "a\x00b", "response": "r"}]}', *UNREADABLE
        ),
        raw("NUL-only body", "/v1/score", b"\x00" * 1000, *UNREADABLE),
        raw("BOM before JSON", "/v1/score", b"\xef\xbb\xbf" + json.dumps({"items": [item()]}).encode(), 200, 422),
        raw(
            "unicode soup",
            "/v1/score",
            {"items": [item("\u202e\u0301\U0001f600\ufeff", "\u0000\ufffd\U0010ffff")]},
            200,
        ),
        raw("empty strings", "/v1/score", {"items": [item("", "")]}, 200, 422),
        # Wrong types.
        raw("items is a string", "/v1/score", {"items": "x"}, 422),
        raw("items of numbers", "/v1/score", {"items": [1, 2]}, 422),
        raw("prompt is a number", "/v1/score", {"items": [item(5, "r")]}, 422),
        raw("response is null", "/v1/score", {"items": [item("p", None)]}, 422),
        raw("response is a list", "/v1/score", {"items": [item("p", ["r"])]}, 422),
        raw("top_k is a numeric string", "/v1/rank", {"prompt": "p", "responses": ["a"], "top_k": "3"}, 200, 422),
        raw("threshold is a string", "/v1/gate", {"prompt": "p", "response": "r", "threshold": "high"}, 422),
        raw("message without content", "/v1/score", {"items": [item([{"role": "user"}], "r")]}, 422),
        raw("message with unknown role", "/v1/score", {"items": [item([{"role": "robot", "content": "x"}], "r")]}, 422),
        raw("body is a list", "/v1/score", [item()], 422),
        raw("body is a number", "/v1/score", b"42", 422),
        raw("body is null", "/v1/score", b"null", 422),
        raw("empty body", "/v1/score", b"", 422),
        raw(
            "both compare forms",
            "/v1/compare",
            {
                "prompt": "p",
                "response_a": "a",
                "response_b": "b",
                "pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}],
            },
            422,
        ),
        raw("half a comparison", "/v1/compare", {"prompt": "p", "response_a": "a"}, 422),
        raw("prompts and query differ in length", "/get_reward", {"query": ["a", "b"], "prompts": ["a"]}, 422),
        # Empty lists.
        raw("no items", "/v1/score", {"items": []}, 422),
        raw("no responses", "/v1/rank", {"prompt": "p", "responses": []}, 422),
        raw("no pairs", "/v1/compare", {"pairs": []}, 422),
        # OpenRLHF shards its samples over several --remote_rm_url's: the servers left without any get empty lists.
        raw("no query", "/get_reward", {"query": [], "prompts": [], "labels": []}, 200),
        raw("no classify input", "/classify", {"input": []}, 422),
        raw("token ids as classify input", "/classify", {"input": [[1, 2, 3]]}, 422),
        raw("no messages", "/v1/score", {"items": [item([], "r")]}, 422),
        # Numbers.
        raw("negative timeout", "/v1/score", {"items": [item()], "timeout_s": -1}, 422),
        raw("zero timeout", "/v1/score", {"items": [item()], "timeout_s": 0}, 422),
        raw("huge timeout (capped)", "/v1/score", {"items": [item()], "timeout_s": 1e300}, 200),
        raw(
            "infinite timeout",
            "/v1/score",
            b'{"items": [{"prompt": "p", "response": "r"}], "timeout_s": 1e999}',
            *UNREADABLE,
        ),
        raw(
            "NaN timeout", "/v1/score", b'{"items": [{"prompt": "p", "response": "r"}], "timeout_s": NaN}', *UNREADABLE
        ),
        raw("tiny timeout", "/v1/score", {"items": [item()], "timeout_s": 1e-300}, 200, 504),
        raw("negative top_k", "/v1/rank", {"prompt": "p", "responses": ["a"], "top_k": -1}, 422),
        raw("zero top_k", "/v1/rank", {"prompt": "p", "responses": ["a"], "top_k": 0}, 422),
        raw("huge top_k", "/v1/rank", {"prompt": "p", "responses": ["a", "b"], "top_k": 10**30}, 200),
        raw("float top_k", "/v1/rank", {"prompt": "p", "responses": ["a"], "top_k": 1.5}, 422),
        raw("huge threshold", "/v1/gate", {"prompt": "p", "response": "r", "threshold": 1e308}, 200),
        raw("negative huge threshold", "/v1/gate", {"prompt": "p", "response": "r", "threshold": -1e308}, 200),
        raw("infinite threshold", "/v1/gate", b'{"prompt": "p", "response": "r", "threshold": -Infinity}', *UNREADABLE),
        raw(
            "huge integer literal",
            "/v1/gate",
            b'{"prompt": "p", "response": "r", "threshold": 1' + b"0" * 5000 + b"}",
            *UNREADABLE,
        ),
        # Unknown fields: refused on the rmserve API, ignored on OpenRLHF's protocol.
        raw("unknown top-level field", "/v1/score", {"items": [item()], "top-k": 3}, 422),
        raw("unknown item field", "/v1/score", {"items": [{**item(), "extra": 1}]}, 422),
        raw("unknown OpenRLHF field", "/get_reward", {"query": ["q"], "something_new": [1]}, 200),
        raw("unknown vLLM field", "/classify", {"input": "q", "something_new": [1]}, 200),
        # Content types and methods.
        raw("text/plain JSON", "/v1/score", {"items": [item()]}, 200, 415, 422, content_type="text/plain"),
        raw("form-encoded", "/v1/score", b"items=1", 415, 422, content_type="application/x-www-form-urlencoded"),
        raw(
            "multipart",
            "/v1/score",
            b"--b\r\n\r\nx\r\n--b--\r\n",
            415,
            422,
            content_type="multipart/form-data; boundary=b",
        ),
        raw("no content type", "/v1/score", {"items": [item()]}, 200, 415, 422, content_type=None),
        raw("GET on a POST route", "/v1/score", b"", 405, method="GET"),
        raw("PUT on a POST route", "/v1/score", {"items": [item()]}, 405, method="PUT"),
        raw("DELETE on a probe", "/health", b"", 405, method="DELETE"),
        raw("POST on a probe", "/ready", b"{}", 405),
        raw("unknown path", "/v2/score", {"items": [item()]}, 404),
    ]
    return cases


def test_hand_made_bad_input(input_server: ServerProcess) -> None:
    cases = hand_made_cases()
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=input_server.url, headers=AUTH, timeout=CLIENT_TIMEOUT_S) as http:
        for case in cases:
            headers = {"content-type": case.content_type} if case.content_type else {}
            try:
                answer = http.request(case.method, case.path, content=case.content, headers=headers)
            except httpx.HTTPError as exc:
                problems.append(f"{case.name}: no answer ({type(exc).__name__})")
                continue
            statuses[answer.status_code] += 1
            problem = error_shape_problem(answer.status_code, answer.content, own_deadline=504 in case.expect)
            if problem is not None:
                problems.append(f"{case.name}: {problem}")
            elif answer.status_code not in case.expect:
                problems.append(
                    f"{case.name}: {answer.status_code} (expected {sorted(case.expect)}): {answer.text[:200]}"
                )
        # The server is still whole: ready, and it scores.
        assert http.get("/ready").status_code == 200
        assert http.post("/v1/score", json={"items": [item()]}).status_code == 200
    assert not problems, "\n".join(problems)
    record_figures(
        "bad input: hand-made cases",
        rerun_command("test_bad_input.py", "test_hand_made_bad_input"),
        sent=len(cases),
        succeeded=sum(n for s, n in statuses.items() if s < 400),
        refused=sum(n for s, n in statuses.items() if s >= 400) - len(problems),
        failed=len(problems),
        lost=0,
        statuses={str(s): n for s, n in sorted(statuses.items())},
        note="each case has its expected status (413 over a limit, 400/422 invalid, 405/404, 504 for a 1e-300 s "
        "timeout, 200 for valid oddities such as escaped NULs); 'refused' counts the expected errors",
    )
