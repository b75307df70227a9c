"""`python -m loadtest.precision_bench`: service throughput at saturation per backend and precision, in one run.

The configurations, each a real `rmserve serve` process, all up at once, measured in interleaved rounds
(a, b, c, ..., a, b, c, ...) so that the machine's background load hits each alike; the median per
configuration is reported, with ratios against onnxruntime fp32 and int8:

- onnx fp32 (`rmserve export --optimize`, as served today), onnx int8 (`--precision int8 --force`);
- openvino fp32 and openvino bf16, on the same fp32 `model.onnx`;
- torch fp32 and torch bf16, on the safetensors folder;
- auto: the fp32 ONNX folder with backend and dtype left to the server (its `/v1/models` choice is
  recorded: what it picked and the start-up pairs/s that made it).

Saturation: a closed loop of `--concurrency` clients, each sending `--pairs-per-request` HH-RLHF pairs
(tuning rows) per request. The fp32 export carries the bf16 fidelity gate (`--precision bf16`, gated on
the HH-RLHF held-out rows) where the CPU has bf16 units. The report names the CPU and its features.

    python -m loadtest.precision_bench [--model DIR] [--concurrency 8] [--pairs-per-request 8]
        [--duration-s 8] [--repeats 3] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loadtest.loadgen import measure_point
from loadtest.server import REPO_ROOT, RunningServer, start_server, wait_until_idle
from loadtest.workload import hh_data_path, hh_pairs, request_lines, write_request_lines
from models.cpu_features import detect_cpu_features
from service.settings import Settings

CONFIGURATIONS: dict[str, tuple[str, dict[str, str]]] = {
    # name: (model folder key, RMSERVE_* settings)
    "onnx fp32": ("fp32", {"RMSERVE_BACKEND": "onnx", "RMSERVE_DTYPE": "auto"}),
    "onnx int8": ("int8", {"RMSERVE_BACKEND": "onnx", "RMSERVE_DTYPE": "auto"}),
    "openvino fp32": ("fp32", {"RMSERVE_BACKEND": "openvino", "RMSERVE_DTYPE": "fp32"}),
    "openvino bf16": ("fp32", {"RMSERVE_BACKEND": "openvino", "RMSERVE_DTYPE": "bf16"}),
    "torch fp32": ("source", {"RMSERVE_BACKEND": "torch", "RMSERVE_DTYPE": "fp32"}),
    "torch bf16": ("source", {"RMSERVE_BACKEND": "torch", "RMSERVE_DTYPE": "bf16"}),
    "auto": ("fp32", {"RMSERVE_BACKEND": "auto", "RMSERVE_DTYPE": "auto"}),
}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.precision_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="safetensors RM folder (default: the default model)")
    parser.add_argument("--configurations", default=",".join(CONFIGURATIONS), help="comma-separated names")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="closed-loop clients (8 x 8 pairs keep 2 workers busy)"
    )
    parser.add_argument("--pairs-per-request", type=int, default=8)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1024, help="distinct HH pairs in the request file")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "precision-bench", help="exports")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def _export(model: Path, out: Path, arguments: Sequence[str]) -> Path:
    if not (out / "model.onnx").is_file():
        command = [sys.executable, "-m", "service.cli", "export", "--model", str(model), "--out", str(out)]
        done = subprocess.run([*command, *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rmserve export {' '.join(arguments)} failed: {done.stderr[-2000:]}")
    return out


def prepare_folders(model: Path, cache: Path) -> dict[str, Path]:
    """{"source", "fp32", "int8"}: the safetensors folder and its two exports (cached by weights digest).
    The fp32 export is gated for bf16 on the HH-RLHF held-out rows where the CPU has bf16 units."""
    from models.folder import inspect_model_folder

    digest = inspect_model_folder(model).weights_digest(prefer_onnx=False).replace(":", "-")[:40]
    fp32_arguments = ["--optimize"]
    data = hh_data_path()
    if detect_cpu_features().bf16_units and data is not None:
        fp32_arguments += ["--precision", "bf16", "--force", "--gate-data", str(data), "--gate-rows", "1800:"]
    return {
        "source": model,
        "fp32": _export(model, cache / f"{digest}-fp32", fp32_arguments),
        "int8": _export(model, cache / f"{digest}-int8", ["--precision", "int8", "--force"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.model is None:
        from models.default_model import ensure_default_model

        args.model = Path(ensure_default_model())
    names = [name.strip() for name in args.configurations.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; choose from {list(CONFIGURATIONS)}")
    features = detect_cpu_features()
    print(f"CPU: {features.summary()}; preparing exports in {args.cache} ...", flush=True)
    folders = prepare_folders(args.model, args.cache)
    pair_set = hh_pairs(args.pairs)
    work = Path(tempfile.mkdtemp(prefix="precision-bench-"))
    requests = write_request_lines(
        work / "requests.jsonl", request_lines(pair_set.pairs, args.pairs_per_request, timeout_s=300.0)
    )
    defaults = Settings()
    common = {
        "RMSERVE_WORKERS": str(defaults.resolved_workers()),
        "RMSERVE_THREADS_PER_WORKER": str(defaults.resolved_threads_per_worker()),
    }
    throughput: dict[str, list[float]] = {name: [] for name in names}
    described: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        servers: dict[str, RunningServer] = {}
        for name in names:
            folder_key, settings = CONFIGURATIONS[name]
            print(f"starting {name} ...", flush=True)
            servers[name] = stack.enter_context(start_server(folders[folder_key], {**common, **settings}))
            described[name] = servers[name].served()
        pids = [server.pid for server in servers.values()]
        for repeat in range(args.repeats):
            for name, server in servers.items():
                wait_until_idle(pids)
                point = measure_point(
                    server.url,
                    requests,
                    server_pid=server.pid,
                    metrics=False,
                    mode="closed",
                    concurrency=args.concurrency,
                    warmup_s=args.warmup_s,
                    duration_s=args.duration_s,
                    min_requests=5,
                    request_timeout_s=310.0,
                )
                throughput[name].append(float(point["throughput_pairs_per_s"]))
                failed = point.get("failed", 0) + point.get("rejected", 0)
                print(f"round {repeat + 1}: {name}: {throughput[name][-1]:.1f} pairs/s ({failed} failed)", flush=True)
    medians = {name: statistics.median(values) for name, values in throughput.items()}
    lines = [
        f"CPU: {features.summary()}; {common['RMSERVE_WORKERS']} workers x {common['RMSERVE_THREADS_PER_WORKER']} "
        f"threads; {args.concurrency} clients x {args.pairs_per_request} pairs ({pair_set.source}); "
        f"median of {args.repeats} interleaved {args.duration_s:g} s points",
        "",
        "| configuration | served as | pairs/s | vs onnx fp32 | vs onnx int8 |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        served = f"{described[name]['backend']} {described[name]['dtype']}"
        ratios = [
            f"{medians[name] / medians[base]:.2f}x" if base in medians and medians[base] > 0 else "-"
            for base in ("onnx fp32", "onnx int8")
        ]
        lines.append(f"| {name} | {served} | {medians[name]:.1f} | {ratios[0]} | {ratios[1]} |")
    if "auto" in described and described["auto"]["choice"]:
        lines += ["", f"auto's start-up choice: {described['auto']['choice']['reason']}"]
    print("\n".join(lines), flush=True)
    if args.out:
        payload = {
            "cpu": features.to_dict(),
            "settings": common,
            "concurrency": args.concurrency,
            "pairs_per_request": args.pairs_per_request,
            "duration_s": args.duration_s,
            "repeats": args.repeats,
            "workload": pair_set.source,
            "pairs_per_s": throughput,
            "median_pairs_per_s": medians,
            "served_as": described,
            "table": lines,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
