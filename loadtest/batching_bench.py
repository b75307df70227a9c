"""`python -m loadtest.batching_bench`: dynamic batching against batching off, same backend, one run.

Two `rmserve serve` processes run side by side on the same model and backend: one with the default
(cost-aware dynamic) batching, one with `RMSERVE_MAX_BATCH_SIZE=1`. For each workload, short pairs
(about 50 tokens) and HH-RLHF lengths (HH itself from ../shared when present), 64 closed-loop clients
each send one pair per request (`loadtest.loadgen`, in its own process). The points alternate between
the two servers (dynamic, off, dynamic, off, ...) so that a change in the machine's background load hits
both alike; the table reports the median throughput of `--repeats` points each and the ratio.

Prints a table and writes JSON (`--out`, default `loadtest/results/batching-<UTC time>.json`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loadtest.loadgen import measure_point
from loadtest.report import derived
from loadtest.server import RunningServer, start_server, wait_until_idle
from loadtest.workload import hh_pairs, request_lines, short_pairs, write_request_lines

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"dynamic": {}, "off": {"RMSERVE_MAX_BATCH_SIZE": "1"}}
TARGETS = {"short": 1.3, "hh": 1.0}


def run_point(
    server: RunningServer,
    requests: Path,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    others: Sequence[RunningServer] = (),
) -> dict[str, Any]:
    """One closed-loop measurement by the load generator in its own process, once `server` and `others`
    are idle (see `wait_until_idle`)."""
    wait_until_idle(sorted({server.pid, *(other.pid for other in others)}))
    return measure_point(
        server.url,
        requests,
        server_pid=server.pid,
        mode="closed",
        concurrency=concurrency,
        warmup_s=warmup_s,
        duration_s=duration_s,
    )


def batch_stats(point: dict[str, Any]) -> dict[str, float | None]:
    figures = derived(point)
    return {"mean_batch_size": figures["mean_batch_size"], "padding_efficiency": figures["padding_efficiency"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the embedded default)")
    parser.add_argument("--backend", default="torch", help="torch | onnx | auto (the same for both servers)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3, help="points per server and workload (median kept)")
    parser.add_argument("--workloads", default="short,hh")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": str(args.model) if args.model else "embedded default",
        "backend": args.backend,
        "concurrency": args.concurrency,
        "pairs_per_request": 1,
        "duration_s": args.duration_s,
        "repeats": args.repeats,
        "workloads": {},
    }
    with tempfile.TemporaryDirectory(prefix="rmserve-batching-") as tmp, ExitStack() as stack:
        servers = {
            name: stack.enter_context(start_server(args.model, {"RMSERVE_BACKEND": args.backend, **extra}))
            for name, extra in CONFIGS.items()
        }
        for workload in workloads:
            pair_set = short_pairs(2048) if workload == "short" else hh_pairs(2048)
            requests = write_request_lines(Path(tmp) / f"{workload}.jsonl", request_lines(pair_set.pairs, 1))
            points: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for _ in range(args.repeats):
                for name, server in servers.items():
                    point = run_point(
                        server, requests, args.concurrency, args.warmup_s, args.duration_s, list(servers.values())
                    )
                    points[name].append(point)
                    print(
                        f"{workload:>5} {name:>7}: {point['throughput_pairs_per_s']:7.1f} pairs/s "
                        f"(ok {point['requests_ok']}, rejected {point['rejected']}, failed {point['failed']})",
                        file=sys.stderr,
                    )
            summary: dict[str, Any] = {"source": pair_set.source}
            for name, runs in points.items():
                summary[name] = {
                    "pairs_per_s_median": statistics.median(p["throughput_pairs_per_s"] for p in runs),
                    "pairs_per_s": [p["throughput_pairs_per_s"] for p in runs],
                    "p50_ms_median": statistics.median(p["latency_ms"].get("p50", 0.0) for p in runs),
                    "p99_ms_median": statistics.median(p["latency_ms"].get("p99", 0.0) for p in runs),
                    "failed": sum(p["failed"] for p in runs),
                    "rejected": sum(p["rejected"] for p in runs),
                    **batch_stats(runs[-1]),
                }
            off = summary["off"]["pairs_per_s_median"]
            summary["ratio"] = summary["dynamic"]["pairs_per_s_median"] / off if off else None
            summary["target"] = TARGETS.get(workload)
            results["workloads"][workload] = summary

    print(f"\n{'workload':<8} {'dynamic':>10} {'off':>10} {'ratio':>7} {'target':>7}  batch  p99 dyn/off ms")
    for workload, s in results["workloads"].items():
        dyn, off = s["dynamic"], s["off"]
        mean_batch = dyn["mean_batch_size"] or 0.0
        print(
            f"{workload:<8} {dyn['pairs_per_s_median']:>10.1f} {off['pairs_per_s_median']:>10.1f} "
            f"{s['ratio']:>7.2f} {s['target'] or 0:>7.1f}  {mean_batch:5.1f}  "
            f"{dyn['p99_ms_median']:.0f}/{off['p99_ms_median']:.0f}"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or REPO_ROOT / "loadtest" / "results" / f"batching-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
