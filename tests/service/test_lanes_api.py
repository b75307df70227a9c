"""Which lane a request queues in: the body's priority, else the X-Rmserve-Priority header, else the
route's default (by size where it is auto); with lanes off, bulk. Observed through /metrics, which counts
admitted requests per lane."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.cli.serve import add_arguments, build_settings
from service.settings import Settings
from tests.service.app_harness import serving
from tests.service.fault_backends import FakeBackend

PAIR = {"prompt": "p", "response": "r"}


def lane_counts(client: TestClient) -> dict[str, float]:
    counts = dict.fromkeys(("interactive", "bulk"), 0.0)
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("rmserve_admission_predicted_wait_seconds_count{"):
            lane = line.split('lane="')[1].split('"')[0]
            counts[lane] = float(line.rsplit(" ", 1)[1])
    return counts


def lane_of(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    before = lane_counts(client)
    answer = client.post(path, json=body, headers=headers or {})
    assert answer.status_code == 200, answer.text
    after = lane_counts(client)
    (lane,) = [name for name in after if after[name] == before[name] + 1]
    return lane


@pytest.fixture(scope="module")
def client(tiny_encoder_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model=tiny_encoder_dir,
        profile_budget_s=0,
        route_lanes={"/v1/gate": "interactive", "/v1/score": "auto", "/get_reward": "bulk"},
    )
    with serving(settings, FakeBackend()) as test_client:
        yield test_client


def test_the_lane_comes_from_the_body_then_the_header_then_the_route(client: TestClient) -> None:
    three = {"items": [PAIR] * 3}
    assert lane_of(client, "/v1/gate", PAIR) == "interactive"
    assert lane_of(client, "/v1/score", {"items": [PAIR]}) == "interactive"  # auto: 1 pair is small
    assert lane_of(client, "/v1/score", three) == "bulk"  # auto: more than interactive_max_pairs
    assert lane_of(client, "/get_reward", {"query": ["p r"]}) == "bulk"
    assert lane_of(client, "/v1/rank", {"prompt": "p", "responses": ["a"]}) == "interactive"  # not listed: auto
    assert lane_of(client, "/v1/score", three, {"X-Rmserve-Priority": "interactive"}) == "interactive"
    assert lane_of(client, "/v1/gate", PAIR, {"X-Rmserve-Priority": "bulk"}) == "bulk"
    # The body's field wins over the header.
    assert lane_of(client, "/v1/gate", {**PAIR, "priority": "interactive"}, {"X-Rmserve-Priority": "bulk"}) == (
        "interactive"
    )
    assert lane_of(client, "/get_reward", {"query": ["p r"], "priority": "interactive"}) == "interactive"


def test_an_unknown_priority_is_a_422(client: TestClient) -> None:
    for answer in (
        client.post("/v1/gate", json={**PAIR, "priority": "urgent"}),
        client.post("/v1/gate", json=PAIR, headers={"X-Rmserve-Priority": "urgent"}),
    ):
        assert answer.status_code == 422
        assert answer.json()["error"]["type"] == "invalid_request"


def test_with_lanes_off_every_request_is_bulk(tiny_encoder_dir: Path) -> None:
    with serving(Settings(model=tiny_encoder_dir, profile_budget_s=0, lanes=False), FakeBackend()) as off:
        assert lane_of(off, "/v1/gate", {**PAIR, "priority": "interactive"}) == "bulk"


def test_route_lanes_reads_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMSERVE_ROUTE_LANES", '{"/v1/score": "bulk", "/classify": "interactive"}')
    settings = Settings()
    assert settings.route_lane("/v1/score") == "bulk" and settings.route_lane("/v1/other") == "auto"
    with pytest.raises(ValueError, match="paths starting with"):
        Settings(route_lanes={"v1/score": "bulk"})


def test_the_serve_flags_turn_lanes_off_and_take_route_lanes_as_json() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    settings = build_settings(parser.parse_args(["--no-lanes", "--route-lanes", '{"/v1/score": "bulk"}']))
    assert settings.lanes is False and settings.route_lanes == {"/v1/score": "bulk"}
    assert build_settings(parser.parse_args([])).lanes is True
