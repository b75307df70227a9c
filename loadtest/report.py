"""Turn a benchmark run's results (see `loadtest.bench`) into figures, target verdicts, markdown and plots.

Pure functions of the results dict, except the writers at the bottom (files) and the plots (matplotlib,
imported only there).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadtest.queue_model import Arrivals, latency_quantile_s, service_times_s, simulate_fifo_s, utilisation

FINDINGS_HEADING = "## Findings"
PLOTS = ("throughput_vs_concurrency.png", "latency_vs_load.png")
SATURATION_VS_LIMIT_MIN = 0.90
BEST_VS_NAIVE_MIN = 3.0
BATCHING_SHORT_MIN = 1.3
BATCHING_HH_MIN = 1.0
PADDING_EFFICIENCY_MIN = 0.90
HEALTH_P99_MAX_MS = 20.0
P99_LOAD_FRACTION = 0.7
P99_FORWARD_PASSES = 3
_UNSHOWN_SETTINGS = frozenset(
    {"RMSERVE_HOST", "RMSERVE_PORT", "RMSERVE_MODEL", "RMSERVE_LOG_LEVEL", "RMSERVE_CACHE_DIR"}
)
VARIANT_NAMES = ("torch-fp32", "onnx-fp32", "onnx-int8")


def derived(point: dict[str, Any]) -> dict[str, Any]:
    """Figures computed from one load-generator point's server deltas (None where not measured)."""
    delta = point.get("server_metrics_delta") or {}
    real = delta.get("rmserve_tokens_total", 0.0)
    padded = delta.get("rmserve_batch_tokens_sum", 0.0)
    batches = delta.get("rmserve_batch_size_count", 0.0)
    pairs_batched = delta.get("rmserve_batch_size_sum", 0.0)
    forward_s = delta.get("rmserve_forward_seconds_sum", 0.0)
    cpu_s = point.get("server_cpu_s")
    pairs = point.get("pairs_ok", 0)
    return {
        "padding_efficiency": real / padded if padded else None,
        "mean_batch_size": pairs_batched / batches if batches else None,
        "mean_forward_ms": forward_s / batches * 1000 if batches else None,
        "server_rejections": sum(v for k, v in delta.items() if k.startswith("rmserve_rejections_total")),
        "server_cpu_s_per_1k_pairs": cpu_s / pairs * 1000 if cpu_s is not None and pairs else None,
        "server_cpu_cores": cpu_s / point["window_s"] if cpu_s is not None else None,
        # Pairs the server ran through its backend in the window, whether or not their requests completed
        # in it (throughput counts the pairs of completed requests only).
        "server_pairs_run_per_s": pairs_batched / point["window_s"] if delta else None,
    }


def _closed(results: dict[str, Any], variant: str, concurrency: int, size: int) -> dict[str, Any] | None:
    section = results["service"].get(variant) or {}
    for point in section.get("closed", []):
        if point["concurrency"] == concurrency and point["pairs_per_request"] == size:
            return point
    return None


def _last_comparison(results: dict[str, Any], workload: str, name: str) -> dict[str, Any] | None:
    runs = ((results.get("comparisons") or {}).get("points") or {}).get(workload, {}).get(name)
    return runs[-1] if runs else None


def _verdict(name: str, measured: float | None, bound: float, at_least: bool, detail: str) -> dict[str, Any]:
    passed = None if measured is None else (measured >= bound if at_least else measured <= bound)
    return {
        "target": name,
        "measured": measured,
        "bound": bound,
        "at_least": at_least,
        "passed": passed,
        "detail": detail,
    }


def _p99_point(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The open-loop point at P99_LOAD_FRACTION of saturation, when it has latencies and passes."""
    for point in points:
        if abs(point["load_fraction"] - P99_LOAD_FRACTION) < 0.051 and point.get("latency_ms"):
            return point if point.get("mean_forward_ms") else None
    return None


def _ideal_queue_note(results: dict[str, Any], section: dict[str, Any], point: dict[str, Any]) -> str:
    """What a server with no overhead would show at this point (see `loadtest.queue_model`): each request
    served alone in the point's mean pass per pair, its p99 taken over windows as long as the point's and
    at steady state; '' where the run has no token counts."""
    tokens = results.get("hh_token_counts")
    workers = int((section.get("settings") or {}).get("RMSERVE_WORKERS") or 0)
    window = int(point.get("requests_ok") or 0)
    if not tokens or workers < 1 or window < 1:
        return ""
    per_pair_s = point["mean_forward_ms"] / max(point.get("mean_batch_size") or 1.0, 1.0) / 1000
    service = service_times_s(tokens, per_pair_s)
    arrivals: Arrivals = "uniform" if point.get("arrivals") == "uniform" else "poisson"
    offered = utilisation(service, workers, point["offered_rps"])
    queue = f"an ideal FIFO queue ({workers} workers, {arrivals} arrivals, these lengths, pairs served one at a time)"
    if offered >= 1:
        return f"; {queue} would be unstable here (utilisation {offered:.2f})"
    in_system_s = simulate_fifo_s(service, workers, point["offered_rps"], arrivals)
    windowed = latency_quantile_s(in_system_s, window_requests=window)
    steady = latency_quantile_s(in_system_s)
    return f"; {queue}: p99 {windowed * 1000:.0f} ms in windows of {window} requests, {steady * 1000:.0f} ms at length"


def _never_batched(points: list[dict[str, Any]]) -> bool:
    sizes = [p.get("mean_batch_size") for p in points]
    return bool(sizes) and all(size is not None and size <= 1.0 for size in sizes)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each measured in this run: {target, measured, bound, at_least, passed, detail}."""
    verdicts: list[dict[str, Any]] = []
    for variant, section in results["service"].items():
        closed = section.get("closed", [])
        limit = results["limit"].get(variant)
        if closed and limit:
            best = max(closed, key=lambda p: p["throughput_pairs_per_s"])
            ratio = best["throughput_pairs_per_s"] / limit["best"]["pairs_per_s"]
            verdicts.append(
                _verdict(
                    f"{variant}: service at saturation / in-process limit",
                    ratio,
                    SATURATION_VS_LIMIT_MIN,
                    True,
                    f"{best['throughput_pairs_per_s']:.1f} pairs/s ({best['concurrency']} clients x "
                    f"{best['pairs_per_request']}) vs {limit['best']['pairs_per_s']:.1f}",
                )
            )
    clients = (results.get("comparisons") or {}).get("concurrency", 64)
    medians = (results.get("comparisons") or {}).get("median_pairs_per_s") or {}
    hh, short = medians.get("hh", {}), medians.get("short", {})
    served = {name: value for name, value in hh.items() if name in VARIANT_NAMES}
    if "naive" in hh and served:
        variant, best = max(served.items(), key=lambda item: item[1])
        verdicts.append(
            _verdict(
                f"best rmserve config / naive (torch, one at a time), {clients} single-pair clients, HH",
                best / max(hh["naive"], 1e-9),
                BEST_VS_NAIVE_MIN,
                True,
                f"{variant} {best:.1f} vs naive {hh['naive']:.1f} pairs/s (medians)",
            )
        )
    points = (results.get("comparisons") or {}).get("points") or {}
    for variant in VARIANT_NAMES:
        off = f"{variant} batching off"
        for workload, key, values, bound in (
            ("short pairs", "short", short, BATCHING_SHORT_MIN),
            ("HH", "hh", hh, BATCHING_HH_MIN),
        ):
            if variant in values and off in values:
                verdict = _verdict(
                    f"{variant}: dynamic batching / batching off, {workload}, {clients} single-pair clients",
                    values[variant] / max(values[off], 1e-9),
                    bound,
                    True,
                    f"{values[variant]:.1f} vs {values[off]:.1f} pairs/s (medians)",
                )
                if _never_batched(points.get(key, {}).get(variant, [])):
                    # An int8 model runs one pair per onnxruntime run, so its server never forms a batch: both
                    # servers are one configuration and the ratio is the run's noise, not batching's effect.
                    verdict["passed"] = None
                    verdict["detail"] += "; not applicable: the server formed no batch (mean batch 1.0), A/A"
                verdicts.append(verdict)
    for variant, section in results["service"].items():
        for key, arrivals in (("open", ""), ("open_uniform", ", evenly spaced arrivals (diagnostic)")):
            point = _p99_point(section.get(key, []))
            if point is None:
                continue
            bound = section["max_wait_ms"] + P99_FORWARD_PASSES * point["mean_forward_ms"]
            verdicts.append(
                _verdict(
                    f"{variant}: p99 at 70% of saturation{arrivals} (ms) <= max_wait_ms + 3 batch passes",
                    point["latency_ms"]["p99"],
                    bound,
                    False,
                    f"{point['offered_rps']:.1f} req/s; max_wait {section['max_wait_ms']:g} ms, mean pass "
                    f"{point['mean_forward_ms']:.1f} ms" + _ideal_queue_note(results, section, point),
                )
            )
        hh64 = _closed(results, variant, clients, 1) or _last_comparison(results, "hh", variant)
        if hh64 and hh64.get("padding_efficiency") is not None:
            verdicts.append(
                _verdict(
                    f"{variant}: padding efficiency, HH, {hh64['concurrency']} single-pair clients",
                    hh64["padding_efficiency"],
                    PADDING_EFFICIENCY_MIN,
                    True,
                    f"mean batch {hh64['mean_batch_size']:.1f} pairs",
                )
            )
        probed = [p for p in section.get("closed", []) if p.get("health_latency_ms")]
        if probed:
            worst = max(probed, key=lambda p: p["health_latency_ms"]["p99"])
            verdicts.append(
                _verdict(
                    f"{variant}: /health p99 (ms) while saturated",
                    worst["health_latency_ms"]["p99"],
                    HEALTH_P99_MAX_MS,
                    False,
                    f"{worst['concurrency']} clients x {worst['pairs_per_request']} pairs, "
                    f"{int(worst['health_latency_ms']['n'])} probes",
                )
            )
    return verdicts


# ---------------------------------------------------------------- markdown


def cell(value: Any, digits: int = 1) -> str:
    """A table cell: "-" for a missing figure, a float to `digits` decimals, anything else as str()."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(results: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(design, scenario, point) for every service point."""
    for variant, section in results["service"].items():
        for point in section.get("closed", []):
            yield variant, f"closed {point['concurrency']} x {point['pairs_per_request']}", point
        for point in section.get("open", []):
            yield variant, f"open {point['offered_rps']:.0f} req/s ({point['load_fraction']:.0%})", point
        for point in section.get("open_uniform", []):
            label = f"open {point['offered_rps']:.0f} req/s ({point['load_fraction']:.0%}, evenly spaced)"
            yield variant, label, point
    comparisons = results.get("comparisons") or {}
    for workload, by_name in (comparisons.get("points") or {}).items():
        for name, runs in by_name.items():
            for index, point in enumerate(runs, 1):
                label = "HH" if workload == "hh" else "short pairs"
                yield name, f"{label}, closed {point['concurrency']} x 1 (side by side, run {index})", point


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Model: `{results.get('model')}`; pairs: {results.get('workloads', {}).get('hh')} (HH lengths), "
        f"{results.get('workloads', {}).get('short')} (short).",
        f"Run {results['started_utc']} to {results.get('finished_utc', '?')}; machine: "
        f"{results['machine_at_start']['affinity_cpus']} CPUs, load average at start "
        f"{results['machine_at_start']['load_average_1_5_15']}, at end "
        f"{(results.get('machine_at_end') or {}).get('load_average_1_5_15')}.",
        "",
        "### Targets",
        "",
        "| target | measured | bound | verdict | detail |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for t in results.get("targets", []):
        verdict = {True: "pass", False: "**MISS**", None: "n/a"}[t["passed"]]
        sign = ">=" if t["at_least"] else "<="
        lines.append(
            f"| {t['target']} | {cell(t['measured'], 2)} | {sign} {cell(t['bound'], 2)} | {verdict} | {t['detail']} |"
        )
    lines += [
        "",
        "### The limit (backend alone, in-process, length-sorted batches)",
        "",
        "| backend | limit pairs/s | batch | workers x threads | padding eff. "
        "| search points (batch, workers x threads: pairs/s) | leaders measured again (pairs/s in turn) |",
        "| --- | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for variant, limit in results["limit"].items():
        best = limit["best"]
        others = "; ".join(
            f"{p['batch_size']}, {p['workers']}x{p['threads_per_worker']}: {p['pairs_per_s']:.0f}"
            for p in limit["points"]
        )
        again = "; ".join(
            f"{c['batch_size']}, {c['workers']}x{c['threads_per_worker']}: "
            + " ".join(f"{x:.0f}" for x in c["pairs_per_s"])
            + f" (median {c['median_pairs_per_s']:.1f})"
            for c in limit.get("confirmations", [])
        )
        lines.append(
            f"| {variant} | {best['pairs_per_s']:.1f} | {best['batch_size']} | {best['workers']} x "
            f"{best['threads_per_worker']} | {best['padding_efficiency']:.2f} | {others} | {again or '-'} |"
        )
    comparisons = results.get("comparisons") or {}
    if comparisons:
        medians = comparisons["median_pairs_per_s"]
        lines += [
            "",
            f"### Side by side: {comparisons['concurrency']} clients x 1 pair, servers up together, points "
            f"alternated, median of {comparisons['repeats']}",
            "",
            "| design | HH pairs/s | short pairs/s | settings |",
            "| --- | ---: | ---: | --- |",
        ]
        for name, settings in comparisons.get("settings", {}).items():
            shown = ", ".join(
                f"{k.removeprefix('RMSERVE_').lower()}={v}" for k, v in settings.items() if k not in _UNSHOWN_SETTINGS
            )
            lines.append(
                f"| {name} | {cell(medians.get('hh', {}).get(name))} | {cell(medians.get('short', {}).get(name))} "
                f"| {shown} |"
            )
    lines += [
        "",
        "### The service over loopback HTTP",
        "",
        "| design | scenario | pairs/s | pairs run/s | p50 ms | p95 ms | p99 ms | rejected | failed | padding eff. "
        "| mean batch | server CPU s / 1k pairs | loadgen CPU (cores) | /health p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for design, scenario, p in _rows(results):
        lat = p.get("latency_ms") or {}
        health = p.get("health_latency_ms") or {}
        lines.append(
            f"| {design} | {scenario} | {p['throughput_pairs_per_s']:.1f} | {cell(p.get('server_pairs_run_per_s'))} "
            f"| {cell(lat.get('p50'))} | "
            f"{cell(lat.get('p95'))} | {cell(lat.get('p99'))} | {p['rejected']} | {p['failed']} | "
            f"{cell(p.get('padding_efficiency'), 2)} | {cell(p.get('mean_batch_size'))} | "
            f"{cell(p.get('server_cpu_s_per_1k_pairs'), 2)} | {p['loadgen_cpu_share']:.2f} | "
            f"{cell(health.get('p99'))} |"
        )
    for variant, record in (results.get("exports") or {}).items():
        gate = record.get("int8_gate")
        if gate:
            verdict = "failed, written with --force" if record.get("int8_forced") else "passed"
            lines += ["", f"{variant}: int8 quality gate {verdict}: {json.dumps(gate)}"]
    if results.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v[:300]}" for k, v in results["skipped"].items())]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- plots


def plot(results: dict[str, Any], out: Path) -> list[Path]:
    """Throughput against concurrency; latency percentiles against offered load. Returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"torch-fp32": "tab:blue", "onnx-fp32": "tab:orange", "onnx-int8": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 5))
    for variant, section in results["service"].items():
        colour = colours.get(variant)
        for size, style in ((1, "-o"), (16, "--s")):
            points = sorted(
                (p for p in section.get("closed", []) if p["pairs_per_request"] == size), key=lambda p: p["concurrency"]
            )
            if points:
                ax.plot(
                    [p["concurrency"] for p in points],
                    [p["throughput_pairs_per_s"] for p in points],
                    style,
                    color=colour,
                    label=f"{variant}, {size} pair{'s' if size > 1 else ''}/request",
                )
        limit = results["limit"].get(variant)
        if limit:
            ax.axhline(limit["best"]["pairs_per_s"], color=colour, linestyle=":", linewidth=1, label=f"{variant} limit")
    comparisons = results.get("comparisons") or {}
    for name, value in (comparisons.get("median_pairs_per_s") or {}).get("hh", {}).items():
        if name in VARIANT_NAMES:
            continue
        variant = name.removesuffix(" batching off")
        marker, colour = ("x", "black") if name == "naive" else ("^", colours.get(variant))
        ax.plot([comparisons["concurrency"]], [value], marker, color=colour, markersize=9, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("pairs / s")
    ax.set_title("Throughput against concurrency (HH-RLHF lengths)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    files = [out / PLOTS[0]]
    fig.tight_layout()
    fig.savefig(files[0], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    for variant, section in results["service"].items():
        points = sorted(section.get("open", []), key=lambda p: p["offered_rps"])
        points = [p for p in points if p.get("latency_ms")]
        if not points:
            continue
        for key, style in (("p50", "-o"), ("p95", "--s"), ("p99", ":^")):
            ax.plot(
                [p["offered_rps"] for p in points],
                [p["latency_ms"][key] for p in points],
                style,
                color=colours.get(variant),
                label=f"{variant} {key}",
            )
        ax.axvline(section["saturation_single_rps"], color=colours.get(variant), linewidth=0.8, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("offered load, single-pair requests / s (open loop; vertical lines: closed-loop saturation)")
    ax.set_ylabel("latency, ms")
    ax.set_title("Latency percentiles against offered load (HH-RLHF lengths)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    files.append(out / PLOTS[1])
    fig.tight_layout()
    fig.savefig(files[1], dpi=110)
    plt.close(fig)
    return files


def write_all(results: dict[str, Any], out: Path) -> None:
    (out / "results.md").write_text(markdown(results))
    plot(results, out)


def write_docs(results: dict[str, Any], out: Path, page: Path, note: str) -> None:
    """Write the benchmarks page, with the plots copied beside it (page.parent / 'benchmarks' / ...).

    A hand-written `## Findings` section of an existing page is kept, at the end."""
    images = page.parent / "benchmarks"
    images.mkdir(parents=True, exist_ok=True)
    for name in PLOTS:
        if (out / name).is_file():
            shutil.copyfile(out / name, images / name)
    parts = [
        "# Benchmarks",
        "",
        "What rmserve gets out of the machine, against the backend's in-process limit and against the naive",
        "design (one forward pass per request, as OpenRLHF's `serve_rm.py`), measured side by side in one run",
        "by `loadtest/bench.py`. Ratios measured in one run are what to compare; absolute figures depend on",
        "the machine and on what else runs on it.",
        "",
    ]
    if note:
        parts += [f"> **Caveat.** {note}", ""]
    parts += [
        "Produced by:",
        "",
        "```",
        f"{results['command']}",
        "```",
        "",
        "How to read it: *closed N x k* is N clients each sending a request of k pairs as soon as the last",
        "answered; *open R req/s* is Poisson arrivals of single-pair requests at a fraction of the measured",
        "saturation (*evenly spaced*: exactly 1/R s apart, as wrk2 and vegeta send); latency of open-loop",
        "requests runs from their scheduled arrival. *pairs/s* counts the",
        "pairs of requests answered in the window; *pairs run/s* is what the server's backend ran in it",
        "(pairs of requests still unanswered included). Padding efficiency is",
        "real tokens / padded tokens of the server's batches (from /metrics), server CPU is the server",
        "process's user + system time (/proc) per 1,000 pairs, and the load generator's own CPU is shown.",
        "",
        markdown(results),
        "",
        f"![throughput against concurrency](benchmarks/{PLOTS[0]})",
        "",
        f"![latency against offered load](benchmarks/{PLOTS[1]})",
        "",
        "## The instruments",
        "",
        "- `python -m loadtest.bench [--quick]`: this page's run (`--quick`: two backends, short points, a minute",
        "  or two on an idle machine); `--help` lists the knobs (backends, parts, concurrencies, durations).",
        "- `python -m loadtest.run_locust --users 16 --run-time 60s --max-p95-ms 2000`: the realistic mix",
        "  (`loadtest/locustfile.py`: /v1/score 1-32 pairs, /v1/rank 4-16, /v1/gate, /get_reward as OpenRLHF",
        "  sends it), headless, exit code 1 when a request fails or p95 breaks its bound; starts a server unless",
        "  `--host` is given.",
        "- `python -m loadtest.profile_server --backend torch --concurrency 64`: py-spy on the server under one",
        "  load point: flame graphs of all threads and of the GIL holders, and the top functions.",
        "- `python -m loadtest.batching_bench` (dynamic batching against `RMSERVE_MAX_BATCH_SIZE=1`, repeated and",
        "  alternated) and `python -m loadtest.onnx_bench` (the backends offline, with int8 quality).",
        '- `python -m loadtest.gpu_check --out DIR`: the GPU path in one run (see "On a GPU" below).',
        "",
    ]
    kept = ""
    if page.is_file() and FINDINGS_HEADING in page.read_text():
        kept = FINDINGS_HEADING + page.read_text().split(FINDINGS_HEADING, 1)[1]
    page.write_text("\n".join(parts) + ("\n" + kept if kept else ""))
