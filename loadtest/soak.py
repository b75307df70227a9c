"""Soak run (a benchmark, not a CI test): hold the real server at a fraction of its saturation rate for a
long time and report whether it degrades: server RSS growth and p99 latency drift, window by window.

    python -m loadtest.soak --model DIR --minutes 20 --fraction 0.7

1. Start `rmserve serve` (loadtest.server) with the given settings.
2. Measure saturation: a closed loop of `--saturation-concurrency` clients for `--saturation-s` seconds
   (requests of one pair with HH-RLHF lengths, see loadtest.workload); its throughput is the saturation.
3. Offer `fraction x saturation` requests per second, open loop (Poisson arrivals, loadtest.loadgen), in
   consecutive windows of `--window-s` seconds until `--minutes` have passed; after each window read the
   server's RSS (/proc/<pid>/status VmRSS) and the window's latency percentiles.
4. Print and write (`--out`, JSON) the windows and the summary: RSS first/last/max and growth, p99 of the
   first and last windows and their ratio (drift), and the totals (sent, succeeded, refused, failed, lost).
   With `--figures`, also the reliability figures file read by `loadtest.reliability_report`.

The first window starts after a warm-up and is the baseline; RSS growth is measured from the end of the
first window, so one-time allocations (first batches of each shape) do not count as growth.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.loadgen import measure_point
from loadtest.server import RunningServer, start_server
from loadtest.workload import hh_pairs, request_lines, write_request_lines

REPO_ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def measure_saturation(server: RunningServer, requests_file: Path, concurrency: int, duration_s: float) -> float:
    point = measure_point(
        server.url,
        requests_file,
        server_pid=server.pid,
        mode="closed",
        concurrency=concurrency,
        warmup_s=2.0,
        duration_s=duration_s,
        min_requests=20,
    )
    return float(point["throughput_rps"])


def run_windows(
    server: RunningServer, requests_file: Path, rate_rps: float, minutes: float, window_s: float
) -> list[dict[str, Any]]:
    windows: list[dict[str, Any]] = []
    ends_at = time.monotonic() + minutes * 60
    index = 0
    while time.monotonic() < ends_at:
        duration_s = max(1.0, min(window_s, ends_at - time.monotonic()))
        point = measure_point(
            server.url,
            requests_file,
            server_pid=server.pid,
            mode="open",
            rate_rps=rate_rps,
            warmup_s=2.0 if index == 0 else 0.0,
            duration_s=duration_s,
            seed=index,
        )
        latency = point["latency_ms"]
        window = {
            "window": index,
            "duration_s": round(point["window_s"], 1),
            "sent": point["requests_ok"] + point["rejected"] + point["failed"],
            "succeeded": point["requests_ok"],
            "refused": point["rejected"],
            "failed": point["failed"],
            "failures": point["failures"],
            "p50_ms": round(latency.get("p50", 0.0), 1),
            "p99_ms": round(latency.get("p99", 0.0), 1),
            "rss_mib": round(rss_mib(server.pid), 1),
        }
        windows.append(window)
        print(json.dumps(window), file=sys.stderr, flush=True)
        index += 1
    return windows


def summarise(windows: list[dict[str, Any]], saturation_rps: float, rate_rps: float, minutes: float) -> dict[str, Any]:
    first, last = windows[0], windows[-1]
    rss = [w["rss_mib"] for w in windows]
    elapsed_h = max(1e-9, sum(w["duration_s"] for w in windows[1:]) / 3600)
    totals = {key: sum(w[key] for w in windows) for key in ("sent", "succeeded", "refused", "failed")}
    return {
        "minutes": minutes,
        "saturation_rps": round(saturation_rps, 2),
        "offered_rps": round(rate_rps, 2),
        "windows": len(windows),
        **totals,
        # The load generator counts every scheduled request as answered, refused or failed (a timeout or a
        # broken connection is a failure), so nothing can go missing without being counted as failed.
        "lost": totals["sent"] - totals["succeeded"] - totals["refused"] - totals["failed"],
        "rss_mib_first_window": first["rss_mib"],
        "rss_mib_last_window": last["rss_mib"],
        "rss_mib_max": max(rss),
        "rss_growth_mib": round(last["rss_mib"] - first["rss_mib"], 1),
        "rss_growth_mib_per_hour": round((last["rss_mib"] - first["rss_mib"]) / elapsed_h, 1)
        if len(windows) > 1
        else 0.0,
        "p99_ms_first_window": first["p99_ms"],
        "p99_ms_last_window": last["p99_ms"],
        "p99_ms_max_window": max(w["p99_ms"] for w in windows),
        "p99_drift": round(last["p99_ms"] / first["p99_ms"], 2) if first["p99_ms"] else None,
        "p50_ms_first_window": first["p50_ms"],
        "p50_ms_last_window": last["p50_ms"],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the embedded default model)")
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the soak (default 20)")
    parser.add_argument("--fraction", type=float, default=0.7, help="offered load as a fraction of saturation")
    parser.add_argument("--window-s", type=float, default=60.0, help="length of one measurement window")
    parser.add_argument("--saturation-s", type=float, default=15.0)
    parser.add_argument("--saturation-concurrency", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=2000, help="distinct request bodies (one pair each)")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="server setting, e.g. max_batch_size=16"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "loadtest" / "results" / "soak.json")
    parser.add_argument("--figures", action="store_true", help="also write reports/reliability/soak.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {}
    for item in args.setting:
        name, _, value = item.partition("=")
        settings[f"RMSERVE_{name.upper()}"] = value
    command = ".venv/bin/python -m loadtest.soak " + " ".join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="rmserve-soak-") as scratch:
        pairs = hh_pairs(args.pairs)
        requests_file = write_request_lines(Path(scratch) / "requests.jsonl", request_lines(pairs.pairs, 1))
        with start_server(args.model, settings) as server:
            saturation = measure_saturation(server, requests_file, args.saturation_concurrency, args.saturation_s)
            rate = args.fraction * saturation
            print(f"saturation {saturation:.1f} req/s; offering {rate:.1f} req/s", file=sys.stderr, flush=True)
            windows = run_windows(server, requests_file, rate, args.minutes, args.window_s)
    summary = {
        "command": command,
        "model": str(args.model) if args.model else "embedded default",
        "pairs": pairs.source,
        "settings": settings,
        **summarise(windows, saturation, rate, args.minutes),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "windows": windows}, indent=2) + "\n")
    if args.figures:
        figures_dir = REPO_ROOT / "reports" / "reliability"
        figures_dir.mkdir(parents=True, exist_ok=True)
        figures = {"scenario": f"soak: {args.minutes:g} min at {args.fraction:.0%} of saturation", **summary}
        (figures_dir / "soak.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
