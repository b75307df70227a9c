"""`python -m loadtest.lanes_bench` end to end on the small real model, in a tiny plan: every figure is
produced and every gate in its own lane is answered. It asserts nothing about speed (the benchmark itself
reports that, side by side in one run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import lanes_bench

pytestmark = pytest.mark.timeout(240)


def test_lanes_bench_tiny_plan_produces_every_figure(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "lanes.json"
    args = ["--model", str(tiny_encoder_dir), "--bulk-clients", "4", "--pairs", "4", "--gate-rps", "5"]
    args += ["--seconds", "2", "--windows", "1", "--warmup-s", "1", "--setting", "profile_budget_s=0"]
    assert lanes_bench.main([*args, "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    # The bench's server runs `auto` (the launcher passes no RMSERVE_* setting it was not given), so the
    # summary says what that start chose and why: a bf16 run and an fp32 run are different measurements.
    served = summary["served"]
    assert served["backend"] == served["choice"]["backend"] == "torch"
    assert served["dtype"] == served["choice"]["dtype"] in ("fp32", "bf16") and served["choice"]["reason"]
    (window,) = summary["windows"]
    assert window["lanes_on"]["statuses"] == {"200": 10}
    assert sum(window["lanes_off"]["statuses"].values()) == 10
    assert summary["single_gate_pass_ms"] > 0 and summary["forward_p99_upper_bound_ms"] > 0
    assert summary["lanes_on_p99_ms_median"] > 0
    assert summary["admission_estimate"]["bulk"]["actual_over_predicted_wait"] is not None
