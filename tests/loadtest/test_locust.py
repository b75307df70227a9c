"""The locust mix and its headless runner against a real server: every kind of request in the mix is
answered as the mix expects; a short headless run passes its thresholds (exit 0) and the same run with
an impossible p95 bound exits non-zero."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtest.mix import WEIGHTS, Mix, answer_problem
from loadtest.run_locust import main as run_locust
from tests.service.server_process import shared_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tiny_encoder_dir: Path) -> str:
    return shared_server(request.config, tiny_encoder_dir)


def test_every_kind_of_mix_request_is_answered_as_expected(server_url: str) -> None:
    mix = Mix(seed=3)
    with httpx.Client(base_url=server_url, timeout=60) as http:
        for kind in WEIGHTS:
            request = mix.request(kind)
            response = http.post(request.path, json=request.body)
            assert answer_problem(request, response.status_code, response.json()) is None, (kind, response.text)
            # The check is not vacuous: one score short, or a non-200, is a problem.
            if request.result_key is not None:
                short = {**response.json(), request.result_key: response.json()[request.result_key][:-1]}
                assert answer_problem(request, 200, short) is not None
            assert answer_problem(request, 503, None) == "status 503"


def _args(url: str, csv: Path, max_p95_ms: float) -> list[str]:
    return [
        "--host", url, "--users", "4", "--spawn-rate", "4", "--run-time", "3s",
        "--max-p95-ms", str(max_p95_ms), "--csv", str(csv),
    ]  # fmt: skip


def test_short_run_within_thresholds_exits_zero(server_url: str, tmp_path: Path) -> None:
    assert run_locust(_args(server_url, tmp_path / "ok", 60_000)) == 0
    aggregated = (tmp_path / "ok_stats.csv").read_text().splitlines()[-1].split(",")
    assert aggregated[1] == "Aggregated" and int(aggregated[2]) > 0 and int(aggregated[3]) == 0


def test_impossible_p95_bound_exits_non_zero(server_url: str, tmp_path: Path) -> None:
    assert run_locust(_args(server_url, tmp_path / "strict", 0.001)) == 1
