"""The benchmark's instruments, end to end on the small real model: the in-process limit search, and
`python -m loadtest.bench` against real server processes over loopback, in a tiny plan (seconds per point).

These check that every figure is produced and that no request failed; they assert nothing about speed
(speed is what the benchmark itself reports, as ratios measured side by side).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import bench
from loadtest.limit import search
from loadtest.workload import hh_pairs, short_pairs
from service.settings import Settings

pytestmark = pytest.mark.timeout(240)


def test_limit_search_scans_batch_sizes_then_worker_splits(tiny_encoder_dir: Path) -> None:
    pairs = hh_pairs(12).pairs
    result = search(tiny_encoder_dir, "torch", pairs, batch_sizes=[1, 4], min_time_s=0.05, cpus=2, confirm_rounds=0)
    points = result["points"]
    # Stage 1: every batch size at (2 workers x 1 thread); stage 2: the other split (1 x 2) at the top two.
    assert [(p["batch_size"], p["workers"], p["threads_per_worker"]) for p in points[:2]] == [(1, 2, 1), (4, 2, 1)]
    assert {(p["workers"], p["threads_per_worker"]) for p in points[2:]} == {(1, 2)}
    assert all(p["pairs_per_s"] > 0 and p["pairs"] > 0 for p in points)
    assert result["best"] == max(points, key=lambda p: p["pairs_per_s"])
    # Length-sorted batches pad little; a batch of one never pads.
    assert next(p for p in points if p["batch_size"] == 1)["padding_efficiency"] == 1.0
    assert 0.5 < next(p for p in points if p["batch_size"] == 4)["padding_efficiency"] <= 1.0


def test_limit_is_the_best_median_of_the_leaders_measured_again(tiny_encoder_dir: Path) -> None:
    pairs = hh_pairs(12).pairs
    result = search(
        tiny_encoder_dir, "torch", pairs, [1, 2, 4], min_time_s=0.05, cpus=2, confirm_top=2, confirm_rounds=3
    )
    config = lambda p: (p["batch_size"], p["workers"], p["threads_per_worker"])  # noqa: E731
    leaders = list(dict.fromkeys(config(p) for p in sorted(result["points"], key=lambda p: -p["pairs_per_s"])))[:2]
    confirmations = result["confirmations"]
    assert [config(c) for c in confirmations] == leaders
    assert all(len(c["pairs_per_s"]) == 3 for c in confirmations)
    for c in confirmations:
        assert c["median_pairs_per_s"] == sorted(c["pairs_per_s"])[1]
    winner = max(confirmations, key=lambda c: c["median_pairs_per_s"])
    assert config(result["best"]) == config(winner)
    assert result["best"]["pairs_per_s"] == winner["median_pairs_per_s"]


def test_workloads_have_the_promised_lengths() -> None:
    hh = hh_pairs(64)
    short = short_pairs(64)
    assert len(hh.pairs) == len(short.pairs) == 64
    mean_chars = lambda pairs: sum(len(str(p)) + len(r) for p, r in pairs) / len(pairs)  # noqa: E731
    assert mean_chars(hh.pairs) > 2 * mean_chars(short.pairs)


def test_bench_tiny_plan_produces_every_figure(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    docs = tmp_path / "docs" / "benchmarks.md"
    code = bench.main(
        [
            "--model", str(tiny_encoder_dir),
            "--variants", "torch-fp32",
            "--parts", "limit,service,open_loop,naive",
            "--concurrency", "4",
            "--request-sizes", "1,4",
            "--open-loop-loads", "0.7",
            "--warmup-s", "0.2",
            "--duration-s", "1.0",
            "--limit-batch-sizes", "1,2",
            "--limit-min-time-s", "0.1", "--limit-confirm-rounds", "1",
            "--limit-pairs", "8",
            "--service-pairs", "64",
            "--comparison-repeats", "1", "--comparison-concurrency", "8", "--min-requests", "3",
            "--server-env", "RMSERVE_PROFILE_BUDGET_S=0.5",
            "--out", str(out),
            "--docs", str(docs),
            "--note", "tiny smoke plan",
        ]
    )  # fmt: skip
    assert code == 0  # non-zero when any request failed
    results = json.loads((out / "results.json").read_text())
    assert results["limit"]["torch-fp32"]["best"]["pairs_per_s"] > 0
    service = results["service"]["torch-fp32"]
    # The service runs its own default split of the CPUs, whatever the limit search preferred.
    defaults = Settings()
    assert service["settings"]["RMSERVE_WORKERS"] == str(defaults.resolved_workers())
    assert service["settings"]["RMSERVE_THREADS_PER_WORKER"] == str(defaults.resolved_threads_per_worker())
    assert [(p["concurrency"], p["pairs_per_request"]) for p in service["closed"]] == [(4, 1), (4, 4)]
    points = service["closed"] + service["open"] + service["open_uniform"]
    for by_name in results["comparisons"]["points"].values():
        points += [p for runs in by_name.values() for p in runs]
    for point in points:
        assert point["failed"] == 0 and point["requests_ok"] > 0
        assert point["latency_ms"]["p50"] <= point["latency_ms"]["p99"]
        assert 0 < point["padding_efficiency"] <= 1.0
        assert point["server_cpu_s_per_1k_pairs"] > 0
        assert point["loadgen_cpu_s"] >= 0
    assert service["open"][0]["offered_rps"] == pytest.approx(0.7 * service["saturation_single_rps"], rel=1e-2)
    assert [p["arrivals"] for p in service["open"] + service["open_uniform"]] == ["poisson", "uniform"]
    assert service["open_uniform"][0]["offered_rps"] == service["open"][0]["offered_rps"]
    assert len(results["hh_token_counts"]) == 64 and min(results["hh_token_counts"]) > 0
    assert service["closed"][0]["health_latency_ms"]["n"] > 0  # /health probed at the highest concurrency
    medians = results["comparisons"]["median_pairs_per_s"]
    assert set(medians["hh"]) == {"torch-fp32", "naive"} and set(medians["short"]) == {"torch-fp32"}
    assert results["comparisons"]["settings"]["naive"]["RMSERVE_MAX_BATCH_SIZE"] == "1"
    names = {t["target"] for t in results["targets"]}
    assert any("naive" in name for name in names) and any("/health" in name for name in names)
    assert any("evenly spaced" in name for name in names)
    for name in ("results.md", "throughput_vs_concurrency.png", "latency_vs_load.png"):
        assert (out / name).stat().st_size > 0
    page = docs.read_text()
    assert "tiny smoke plan" in page and "python -m loadtest.bench" in page and "| torch-fp32 |" in page
    assert (docs.parent / "benchmarks" / "latency_vs_load.png").is_file()
