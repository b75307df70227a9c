"""`python -m loadtest.bench`: rmserve against the hardware limit and against the naive design, in one run.

On the same pairs (HH-RLHF lengths; short pairs for the batching comparison) it measures, per backend
(torch fp32, onnx fp32, onnx int8):

- the limit: the backend alone, in-process, best of a search over batch size, workers and threads per
  worker on length-sorted batches (`loadtest.limit`, in its own process);
- the service (`rmserve serve`, with its default workers x threads, see `server_settings`): closed-loop
  concurrency 1..128 with single-pair and 16-pair requests; open-loop Poisson arrivals at fractions of
  the measured saturation rate up to past it (and evenly spaced arrivals at 70%, with the p99 of an ideal
  queue beside each: `loadtest.queue_model`); throughput, p50/p95/p99, rejections; padding efficiency and
  batch statistics from the server's /metrics; the server's CPU seconds per 1,000 pairs from /proc;
  /health latency while saturated;
- batching off: the same service with `RMSERVE_MAX_BATCH_SIZE=1`, on HH and on short pairs;
- the naive design: torch fp32, one request at a time (`RMSERVE_MAX_BATCH_SIZE=1`, `RMSERVE_WORKERS=1`),
  as OpenRLHF's `serve_rm.py` runs, at 64 concurrent single-pair clients.

Every point's load comes from `loadtest.loadgen` in its own process over loopback HTTP (its own CPU use is
reported). Output in `--out` (default `loadtest/results/<UTC time>/`): `results.json`, `results.md`,
`throughput_vs_concurrency.png`, `latency_vs_load.png`; `--docs docs/benchmarks.md` also writes the page.
`--quick` runs a reduced plan in a minute or two.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtest import report
from loadtest.loadgen import measure_point
from loadtest.server import REPO_ROOT, RunningServer, start_server, wait_until_idle
from loadtest.workload import PairSet, hh_pairs, request_lines, short_pairs, write_pairs, write_request_lines
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from service.settings import Settings

VARIANTS = ("torch-fp32", "onnx-fp32", "onnx-int8")
BATCH_TIMEOUT_S = 300.0


@dataclass
class Plan:
    """What one run measures and for how long (the defaults: the full run, about ten minutes)."""

    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    concurrencies: list[int] = field(default_factory=lambda: [1, 4, 16, 64, 128])
    request_sizes: list[int] = field(default_factory=lambda: [1, 16])
    open_loop_loads: list[float] = field(default_factory=lambda: [0.5, 0.7, 0.9, 1.2])
    # Evenly spaced arrivals at these loads too: the p99 target's diagnostic (see loadtest.queue_model).
    uniform_loads: list[float] = field(default_factory=lambda: [0.7])
    warmup_s: float = 1.0
    duration_s: float = 6.0  # 4 s points moved by 10-30% between identical runs on this 2-core machine
    min_requests: int = 20  # each point's window is extended until this many requests are counted
    health_hz: float = 20.0
    limit_batch_sizes: list[int] = field(default_factory=lambda: [1, 4, 8, 16, 32])
    limit_min_time_s: float = 2.0
    limit_confirm_rounds: int = 3  # the leading limit configurations measured again (see loadtest.limit)
    limit_pairs: int = 256  # a point is a whole pass over them: 4-10 s per point here
    service_pairs: int = 1024
    parts: list[str] = field(default_factory=lambda: ["limit", "service", "open_loop", "batching_off", "naive"])
    batching_variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    comparison_repeats: int = 3  # a median of 2 is their mean: one disturbed point moved a ratio by 20%
    comparison_concurrency: int = 64
    server_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> Plan:
        """A minute or two on an idle 2-core machine: two backends, fewer and shorter points."""
        return cls(
            variants=["torch-fp32", "onnx-int8"],
            concurrencies=[1, 64],
            open_loop_loads=[0.7, 1.2],
            warmup_s=0.5,
            duration_s=2.0,
            min_requests=10,
            limit_batch_sizes=[1, 8],
            limit_min_time_s=0.8,
            limit_confirm_rounds=1,
            limit_pairs=192,
            service_pairs=512,
            batching_variants=["onnx-int8"],
            comparison_repeats=1,
        )


# ---------------------------------------------------------------- model variants


def _run_logged(command: Sequence[str], what: str) -> str:
    """Run a command of this project; its stdout, or RuntimeError with the tail of its output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


def resolve_model(model: Path | None) -> Path:
    """The model folder to benchmark: `model`, else the embedded default model (built once, cached)."""
    if model is not None:
        return model
    os.environ.setdefault("RMSERVE_CACHE_DIR", str(REPO_ROOT / ".cache"))
    from models.default_model import ensure_default_model

    return Path(ensure_default_model())


def variant_dirs(model: Path, variants: Sequence[str], cache: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """{variant: model folder}, exporting ONNX variants once with `rmserve export` (fp32: `--optimize`;
    int8: `--quantize int8`, with its quality gate), cached by the weights' digest; and {variant: why it
    is skipped} for the ones that could not be prepared (a gate refused, say)."""
    from models.folder import inspect_model_folder

    digest = inspect_model_folder(model).weights_digest(prefer_onnx=False).replace(":", "-")[:40]
    dirs: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for variant in variants:
        if variant == "torch-fp32":
            dirs[variant] = model
            continue
        out = cache / f"{digest}-{variant}"
        if not (out / "model.onnx").is_file():
            command = [sys.executable, "-m", "service.cli", "export", "--model", str(model), "--out", str(out)]
            # int8 is quantized from the plain graph: onnxruntime's quantizer fails on the fused one. --force
            # writes it even where its quality gate refuses (speed is measured here; the gate's verdict is
            # recorded in the card and in the results, `exports`).
            command += ["--quantize", "int8", "--force"] if variant == "onnx-int8" else ["--optimize"]
            try:
                _run_logged(command, f"rmserve export ({variant})")
            except RuntimeError as exc:
                skipped[variant] = str(exc)
                continue
        dirs[variant] = out
    return dirs, skipped


def _export_record(folder: Path) -> dict[str, Any]:
    """What `rmserve export` recorded in the card: dtype, optimisation, int8 quality gate (and whether forced)."""
    card = json.loads((folder / "rmserve_card.json").read_text())
    record = card.get("export") or {}
    quantization = record.get("quantization") or {}
    return {
        "dtype": record.get("dtype"),
        "optimized": bool((record.get("optimization") or {}).get("applied")),
        "int8_gate": quantization.get("gate"),
        "int8_forced": quantization.get("forced"),
    }


def backend_of(variant: str) -> str:
    return variant.split("-")[0]


# ---------------------------------------------------------------- measurements


def run_limit(model_dir: Path, variant: str, pairs_file: Path, plan: Plan, max_length: int | None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "loadtest.limit",
        "--model",
        str(model_dir),
        "--backend",
        backend_of(variant),
        "--pairs",
        str(pairs_file),
        "--batch-sizes",
        ",".join(map(str, plan.limit_batch_sizes)),
        "--min-time-s",
        str(plan.limit_min_time_s),
        "--confirm-rounds",
        str(plan.limit_confirm_rounds),
    ]
    if max_length:
        command += ["--max-length", str(max_length)]
    result: dict[str, Any] = json.loads(_run_logged(command, f"limit search ({variant})"))
    return result


def run_point(run: Run, server: RunningServer, requests_file: Path, **point: Any) -> dict[str, Any]:
    """One load-generator run against `server` (its own process), once every server of the run is idle;
    the point's result with derived figures."""
    plan = run.plan
    settle_s = wait_until_idle([s.pid for s in run.servers])
    result = measure_point(
        server.url,
        requests_file,
        server_pid=server.pid,
        warmup_s=plan.warmup_s,
        duration_s=plan.duration_s,
        min_requests=plan.min_requests,
        request_timeout_s=BATCH_TIMEOUT_S + 10,
        **point,
    )
    result.update(report.derived(result), settle_s=round(settle_s, 2))
    return result


@dataclass
class Run:
    """Where the run writes, what it has measured so far, and the servers it has up."""

    out: Path
    plan: Plan
    results: dict[str, Any]
    servers: list[RunningServer] = field(default_factory=list)

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))


@dataclass(frozen=True)
class Workloads:
    hh: PairSet
    short: PairSet
    limit_pairs: Path
    files: dict[str, Path]  # "hh-1", "hh-16", "short-1" -> request lines


def write_workloads(out: Path, plan: Plan) -> Workloads:
    hh = hh_pairs(plan.service_pairs)
    short = short_pairs(max(256, plan.service_pairs // 4))
    limit_set = PairSet(hh.name, hh.source, hh.pairs[: plan.limit_pairs])
    # Multi-pair requests are a trainer's batches: they carry a long deadline of their own, as a trainer sets
    # one, so that a closed loop of 128 x 16 pairs measures throughput, not the default 30 s deadline.
    files = {
        f"hh-{size}": write_request_lines(
            out / f"hh-{size}.jsonl", request_lines(hh.pairs, size, timeout_s=BATCH_TIMEOUT_S if size > 1 else None)
        )
        for size in sorted({1, *plan.request_sizes})
    }
    files["short-1"] = write_request_lines(out / "short-1.jsonl", request_lines(short.pairs, 1))
    return Workloads(hh, short, write_pairs(out / "limit-pairs.jsonl", limit_set), files)


def token_counts(model_dir: Path, pairs: PairSet, max_length: int | None) -> list[int]:
    """Tokens the model reads for each pair (the serving formatter's truncation included)."""
    folder = inspect_model_folder(model_dir)
    formatter = build_formatter(folder, load_tokenizer(folder), max_length)
    return [formatter.encode(prompt, response).num_tokens for prompt, response in pairs.pairs]


def server_settings(variant: str, plan: Plan, max_length: int | None) -> dict[str, str]:
    """The service as a user runs it: its own default split of the CPUs into workers x threads, written out
    so that the report shows it (`--server-env` overrides it).

    Not the limit's best split: beside the event loop and the tokenizer threads, one worker with two
    intra-op threads stalls whenever either of its threads is preempted, and in the server it lost to
    two one-thread workers even where it won in-process (2 CPUs, 64 x 1 and 4 x 16 HH pairs, alternated,
    medians of 2: torch 21.7 against 27.9 pairs/s, onnx fp32 31.5-32.6 against 33.7-34.7).
    """
    defaults = Settings()
    settings = {
        "RMSERVE_BACKEND": backend_of(variant),
        # torch-fp32 is fp32: dtype auto would let the server pick bf16 on a CPU with bf16 units
        # (loadtest.precision_bench compares the precisions); onnx runs the precision of its file.
        "RMSERVE_DTYPE": "fp32" if backend_of(variant) == "torch" else "auto",
        "RMSERVE_WORKERS": str(defaults.resolved_workers()),
        "RMSERVE_THREADS_PER_WORKER": str(defaults.resolved_threads_per_worker()),
        **plan.server_env,
    }
    if max_length:
        settings["RMSERVE_MAX_LENGTH"] = str(max_length)
    return settings


def measure_service(run: Run, variant: str, server: RunningServer, work: Workloads) -> dict[str, Any]:
    """The closed-loop sweep (HH pairs, every request size x concurrency; /health probed at the highest
    concurrency), then open-loop points at fractions of the single-pair saturation rate (Poisson arrivals,
    then evenly spaced ones at `plan.uniform_loads`)."""
    plan = run.plan
    section: dict[str, Any] = {
        "settings": dict(server.settings),
        "max_wait_ms": _max_wait_ms(dict(server.settings)),
        "closed": [],
        "open": [],
        "open_uniform": [],
    }
    for size in plan.request_sizes:
        for concurrency in plan.concurrencies:
            saturated = concurrency == max(plan.concurrencies)
            run.log(f"{variant}: closed loop, {concurrency} clients x {size} pairs")
            point = run_point(
                run,
                server,
                work.files[f"hh-{size}"],
                mode="closed",
                concurrency=concurrency,
                health_hz=plan.health_hz if saturated else 0,
            )
            point.update(workload="hh", pairs_per_request=size)
            section["closed"].append(point)
            run.save()
    single = [p for p in section["closed"] if p["pairs_per_request"] == 1]
    saturation_rps = max(p["throughput_rps"] for p in single) if single else 0.0
    section["saturation_single_rps"] = saturation_rps
    if "open_loop" in plan.parts and saturation_rps > 0:
        for load in plan.open_loop_loads:
            rate = load * saturation_rps
            run.log(f"{variant}: open loop, {rate:.1f} req/s ({load:.0%} of saturation)")
            point = run_point(
                run, server, work.files["hh-1"], mode="open", rate_rps=round(rate, 3), health_hz=plan.health_hz
            )
            point.update(workload="hh", pairs_per_request=1, load_fraction=load)
            section["open"].append(point)
            run.save()
        for load in plan.uniform_loads:
            rate = load * saturation_rps
            run.log(f"{variant}: open loop, {rate:.1f} req/s evenly spaced ({load:.0%} of saturation)")
            point = run_point(
                run,
                server,
                work.files["hh-1"],
                mode="open",
                rate_rps=round(rate, 3),
                arrivals="uniform",
                health_hz=plan.health_hz,
            )
            point.update(workload="hh", pairs_per_request=1, load_fraction=load)
            section["open_uniform"].append(point)
            run.save()
    return section


def measure_comparisons(run: Run, servers: dict[str, RunningServer], work: Workloads, repeats: int) -> dict[str, Any]:
    """Closed-loop points at `comparison_concurrency` single-pair clients on every server in `servers`
    ({name: server}, all up at once), alternating between them (a, b, c, a, b, c, ...) so that a change in
    the machine's background load hits each alike; `repeats` points each per workload, medians kept. The
    naive server runs HH only."""
    points: dict[str, dict[str, list[dict[str, Any]]]] = {"hh": {}, "short": {}}
    concurrency = run.plan.comparison_concurrency
    for _ in range(repeats):
        for workload in ("hh", "short"):
            for name, server in servers.items():
                if name == "naive" and workload == "short":
                    continue
                run.log(f"comparison: {name}, {workload} pairs, {concurrency} clients x 1 pair")
                point = run_point(run, server, work.files[f"{workload}-1"], mode="closed", concurrency=concurrency)
                point.update(workload=workload, pairs_per_request=1)
                points[workload].setdefault(name, []).append(point)
                run.save()
    medians = {
        workload: {name: statistics.median(p["throughput_pairs_per_s"] for p in runs) for name, runs in by_name.items()}
        for workload, by_name in points.items()
    }
    return {"concurrency": concurrency, "repeats": repeats, "points": points, "median_pairs_per_s": medians}


def naive_settings(plan: Plan, max_length: int | None) -> dict[str, str]:
    """OpenRLHF's serve_rm.py design: torch, one forward pass per request, one at a time."""
    settings = {
        "RMSERVE_BACKEND": "torch",
        "RMSERVE_DTYPE": "fp32",
        "RMSERVE_MAX_BATCH_SIZE": "1",
        "RMSERVE_WORKERS": "1",
        **plan.server_env,
    }
    if max_length:
        settings["RMSERVE_MAX_LENGTH"] = str(max_length)
    return settings


def _short(settings: dict[str, str]) -> str:
    return ", ".join(f"{k.removeprefix('RMSERVE_').lower()}={v}" for k, v in settings.items())


def _max_wait_ms(settings: dict[str, str]) -> float:
    from service.settings import Settings

    raw = settings.get("RMSERVE_MAX_WAIT_MS") or os.environ.get("RMSERVE_MAX_WAIT_MS")
    return float(raw) if raw else float(Settings.model_fields["max_wait_ms"].default)


def _machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in load],
    }


def bench(plan: Plan, out: Path, model: Path | None, max_length: int | None, command: str) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "command": command,
        "started_utc": started.isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "machine_at_start": _machine(),
        "limit": {},
        "service": {},
        "comparisons": None,
        "skipped": {},
    }
    run = Run(out, plan, results)
    model_dir = resolve_model(model)
    results["model"] = str(model_dir)
    dirs, skipped = variant_dirs(model_dir, plan.variants, REPO_ROOT / ".cache" / "bench-exports")
    results["skipped"].update(skipped)
    results["exports"] = {
        variant: _export_record(folder) for variant, folder in dirs.items() if variant != "torch-fp32"
    }
    work = write_workloads(out, plan)
    results["workloads"] = {"hh": work.hh.source, "short": work.short.source}
    results["hh_token_counts"] = token_counts(model_dir, work.hh, max_length)
    run.save()
    comparison_servers: dict[str, RunningServer] = {}
    with ExitStack() as stack:
        for variant, folder in dirs.items():
            if "limit" in plan.parts:
                run.log(f"{variant}: limit search (in-process, no HTTP)")
                results["limit"][variant] = run_limit(folder, variant, work.limit_pairs, plan, max_length)
                run.save()
            settings = server_settings(variant, plan, max_length)
            compare = "batching_off" in plan.parts and variant in plan.batching_variants
            if "service" in plan.parts or compare or "naive" in plan.parts:
                run.log(f"{variant}: starting the server ({_short(settings)})")
                server = stack.enter_context(start_server(folder, settings))
                run.servers.append(server)
                comparison_servers[variant] = server
                if "service" in plan.parts:
                    results["service"][variant] = measure_service(run, variant, server, work)
                    run.save()
            if compare:
                off = {**settings, "RMSERVE_MAX_BATCH_SIZE": "1"}
                run.log(f"{variant}: starting the batching-off server ({_short(off)})")
                comparison_servers[f"{variant} batching off"] = stack.enter_context(start_server(folder, off))
                run.servers.append(comparison_servers[f"{variant} batching off"])
        if "naive" in plan.parts:
            settings = naive_settings(plan, max_length)
            run.log(f"naive: starting the server ({_short(settings)})")
            comparison_servers["naive"] = stack.enter_context(start_server(model_dir, settings))
            run.servers.append(comparison_servers["naive"])
        if comparison_servers:
            results["comparisons"] = measure_comparisons(run, comparison_servers, work, plan.comparison_repeats)
            results["comparisons"]["settings"] = {name: dict(s.settings) for name, s in comparison_servers.items()}
    results["machine_at_end"] = _machine()
    results["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["targets"] = report.targets(results)
    run.save()
    report.write_all(results, out)
    return results


def _csv(kind: type, text: str) -> list[Any]:
    return [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced plan: a minute or two")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the embedded default model)")
    parser.add_argument("--max-length", type=int, default=None, help="token cap per pair (default: the model's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default loadtest/results/<time>)")
    parser.add_argument("--docs", type=Path, default=None, help="also write this markdown page (docs/benchmarks.md)")
    parser.add_argument("--note", default="", help="a caveat printed at the top of the docs page")
    parser.add_argument("--variants", default=None, help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--batching-variants", default=None, help="variants compared with batching off")
    parser.add_argument("--comparison-repeats", type=int, default=None, help="alternating points per server")
    parser.add_argument("--comparison-concurrency", type=int, default=None, help="clients of the side-by-side points")
    parser.add_argument("--min-requests", type=int, default=None, help="requests counted per point, at least")
    parser.add_argument("--parts", default=None, help="comma list of limit, service, open_loop, batching_off, naive")
    parser.add_argument("--concurrency", default=None, help="closed-loop client counts, e.g. 1,4,16,64,128")
    parser.add_argument("--request-sizes", default=None, help="pairs per closed-loop request, e.g. 1,16")
    parser.add_argument("--open-loop-loads", default=None, help="fractions of saturation, e.g. 0.5,0.7,1.2")
    parser.add_argument("--uniform-loads", default=None, help="fractions of saturation with evenly spaced arrivals")
    parser.add_argument("--duration-s", type=float, default=None, help="measured seconds per point")
    parser.add_argument("--warmup-s", type=float, default=None, help="uncounted seconds before each point")
    parser.add_argument("--limit-batch-sizes", default=None)
    parser.add_argument("--limit-min-time-s", type=float, default=None)
    parser.add_argument("--limit-confirm-rounds", type=int, default=None, help="0: the limit is the highest point")
    parser.add_argument("--limit-pairs", type=int, default=None)
    parser.add_argument("--service-pairs", type=int, default=None)
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="extra RMSERVE_* setting"
    )
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> Plan:
    plan = Plan.quick() if args.quick else Plan()
    overrides: dict[str, Any] = {
        "variants": _csv(str, args.variants) if args.variants else None,
        "parts": _csv(str, args.parts) if args.parts else None,
        "batching_variants": _csv(str, args.batching_variants) if args.batching_variants else None,
        "comparison_repeats": args.comparison_repeats,
        "comparison_concurrency": args.comparison_concurrency,
        "min_requests": args.min_requests,
        "concurrencies": _csv(int, args.concurrency) if args.concurrency else None,
        "request_sizes": _csv(int, args.request_sizes) if args.request_sizes else None,
        "open_loop_loads": _csv(float, args.open_loop_loads) if args.open_loop_loads else None,
        "uniform_loads": _csv(float, args.uniform_loads) if args.uniform_loads is not None else None,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "limit_batch_sizes": _csv(int, args.limit_batch_sizes) if args.limit_batch_sizes else None,
        "limit_min_time_s": args.limit_min_time_s,
        "limit_confirm_rounds": args.limit_confirm_rounds,
        "limit_pairs": args.limit_pairs,
        "service_pairs": args.service_pairs,
    }
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    unknown = set(plan.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    plan.server_env = dict(item.split("=", 1) for item in args.server_env)
    return plan


def _iter_points(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for section in results["service"].values():
        yield from section["closed"]
        yield from section["open"]
        yield from section.get("open_uniform", [])
    for by_name in ((results.get("comparisons") or {}).get("points") or {}).values():
        for runs in by_name.values():
            yield from runs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from(args)
    out = args.out or REPO_ROOT / "loadtest" / "results" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    command = "python -m loadtest.bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    results = bench(plan, out, args.model, args.max_length, command.strip())
    if args.docs:
        report.write_docs(results, out, args.docs, args.note)
    print(report.markdown(results))
    print(f"results: {out}", file=sys.stderr)
    failed = sum(p["failed"] for p in _iter_points(results))
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
