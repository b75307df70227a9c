"""The benchmark's verdicts on the issue's targets, from a hand-made results record."""

from __future__ import annotations

import re
from typing import Any

from loadtest import report


def _point(pairs_per_s: float, mean_batch_size: float) -> dict[str, Any]:
    return {"throughput_pairs_per_s": pairs_per_s, "mean_batch_size": mean_batch_size}


def _results(points: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    medians = {
        workload: {name: sorted(p["throughput_pairs_per_s"] for p in runs)[len(runs) // 2] for name, runs in by.items()}
        for workload, by in points.items()
    }
    return {
        "service": {},
        "limit": {},
        "comparisons": {"concurrency": 64, "repeats": 3, "points": points, "median_pairs_per_s": medians},
    }


def _batching(verdicts: list[dict[str, Any]], variant: str, workload: str) -> dict[str, Any]:
    prefix = f"{variant}: dynamic batching"
    return next(v for v in verdicts if v["target"].startswith(prefix) and workload in v["target"])


def test_batching_ratio_is_judged_where_the_server_batched() -> None:
    batched = [_point(60, 7.0), _point(66, 8.0), _point(63, 6.5)]
    off = [_point(40, 1.0), _point(38, 1.0), _point(39, 1.0)]
    verdicts = report.targets(_results({"short": {"torch-fp32": batched, "torch-fp32 batching off": off}, "hh": {}}))
    verdict = _batching(verdicts, "torch-fp32", "short pairs")
    assert verdict["measured"] == 63 / 39
    assert verdict["passed"] is True


def test_batching_ratio_of_a_server_that_never_batched_is_not_applicable() -> None:
    # An int8 model is never batched: "dynamic" and "off" are one configuration, so a ratio under the bound
    # is noise and must not read as a miss (nor one above it as a pass).
    same = [_point(40, 1.0), _point(42, 1.0), _point(41, 1.0)]
    off = [_point(43, 1.0), _point(44, 1.0), _point(42, 1.0)]
    verdicts = report.targets(_results({"hh": {"onnx-int8": same, "onnx-int8 batching off": off}, "short": {}}))
    verdict = _batching(verdicts, "onnx-int8", "HH")
    assert verdict["measured"] < 1.0
    assert verdict["passed"] is None
    assert "A/A" in verdict["detail"]


def _open(load_fraction: float, arrivals: str, p99_ms: float, rate_rps: float = 28.0) -> dict[str, Any]:
    return {
        "load_fraction": load_fraction,
        "arrivals": arrivals,
        "offered_rps": rate_rps,
        "requests_ok": 170,
        "latency_ms": {"p99": p99_ms},
        "mean_forward_ms": 50.0,
        "mean_batch_size": 1.0,
    }


def _p99_verdicts(open_points: list[dict[str, Any]], uniform_points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = _results({"hh": {}, "short": {}})
    results["hh_token_counts"] = list(range(20, 260, 10))
    results["service"]["onnx-int8"] = {
        "settings": {"RMSERVE_WORKERS": "2"},
        "max_wait_ms": 5.0,
        "open": open_points,
        "open_uniform": uniform_points,
    }
    return [v for v in report.targets(results) if "p99 at 70%" in v["target"]]


def test_p99_is_judged_for_both_arrival_kinds_beside_an_ideal_queue() -> None:
    p99 = _p99_verdicts([_open(0.5, "poisson", 100.0), _open(0.7, "poisson", 300.0)], [_open(0.7, "uniform", 120.0)])
    assert [v["measured"] for v in p99] == [300.0, 120.0]  # the 70% points, Poisson first
    assert [v["passed"] for v in p99] == [False, True]  # bound 5 + 3 x 50 = 155 ms
    assert "evenly spaced" in p99[1]["target"] and "evenly spaced" not in p99[0]["target"]
    assert "poisson arrivals" in p99[0]["detail"] and "uniform arrivals" in p99[1]["detail"]
    # "p99 W ms in windows of 170 requests, S ms at length": the point's own window, and steady state.
    figures = [re.search(r"p99 (\d+) ms in windows of 170 requests, (\d+) ms at length", v["detail"]) for v in p99]
    (poisson_window, poisson_steady), (uniform_window, uniform_steady) = [
        (int(m.group(1)), int(m.group(2))) for m in figures if m is not None
    ]
    longest_pass_ms = 250 / 135 * 50.0  # 1 pair in 24 is the longest (250 tokens against a mean of 135)
    assert poisson_steady > uniform_steady >= longest_pass_ms
    assert poisson_window > uniform_window >= longest_pass_ms


def test_an_ideal_queue_that_could_not_keep_up_is_said_to_be_unstable() -> None:
    # 2 workers at 50 ms a pair serve 40 pairs/s: 45 requests/s only get through with batches.
    (verdict,) = _p99_verdicts([_open(0.7, "poisson", 900.0, rate_rps=45.0)], [])
    assert "would be unstable here (utilisation 1.12)" in verdict["detail"]
