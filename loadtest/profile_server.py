"""Profile the server under one load point: where its CPU time and its GIL go.

    python -m loadtest.profile_server --backend torch --concurrency 64 --workload hh --duration-s 10

Starts `rmserve serve` (settings from `--server-env NAME=VALUE`), drives one closed-loop point with
`loadtest.loadgen` (its own process) and samples the server meanwhile with py-spy, twice over: every
thread while running (`all`), and only the samples that hold the GIL (`gil`: what serialises the Python threads).
Writes `<out>/{all,gil}.svg` flame graphs and prints the top functions by share of samples (self time)
and by thread role, plus the point's throughput and the server's batch statistics.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.loadgen import measure_point
from loadtest.report import derived
from loadtest.server import start_server
from loadtest.workload import hh_pairs, request_lines, short_pairs, write_request_lines


def _py_spy(pid: int, seconds: float, out: Path, extra: Sequence[str]) -> subprocess.Popen[bytes]:
    # py-spy is a binary installed beside the interpreter (the [dev] extra pins it).
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [binary, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50"]
    return subprocess.Popen(
        [*command, "--nonblocking", "-t", "-f", "raw", "-o", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    """Collapsed stacks ('thread;frame;...;leaf count') -> shares by leaf function and by thread name."""
    leaves: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[_thread_role(frames[0])] += count
        leaves[frames[-1]] += count
    return {
        "samples": total,
        "threads": {name: count / total for name, count in threads.most_common()} if total else {},
        "top_self": [(name, count / total) for name, count in leaves.most_common(top)] if total else [],
    }


def _thread_role(label: str) -> str:
    """py-spy's thread label ('process 123:"name"' or 'thread (0x..)') reduced to a role name."""
    for role in ("rmserve-worker", "rmserve-tokenize", "asyncio", "MainThread", "ThreadPoolExecutor"):
        if role in label:
            return role
    return label.split(" ")[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--workload", choices=["hh", "short"], default="hh")
    parser.add_argument("--pairs-per-request", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/profile"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {"RMSERVE_BACKEND": args.backend, **dict(item.split("=", 1) for item in args.server_env)}
    pairs = (hh_pairs if args.workload == "hh" else short_pairs)(1024).pairs
    with tempfile.TemporaryDirectory() as tmp, start_server(args.model, settings) as server:
        requests = write_request_lines(Path(tmp) / "requests.jsonl", request_lines(pairs, args.pairs_per_request))
        warmup_s = 2.0
        result: dict[str, Any] = {}

        def load() -> None:
            result.update(
                measure_point(
                    server.url,
                    requests,
                    server_pid=server.pid,
                    mode="closed",
                    concurrency=args.concurrency,
                    warmup_s=warmup_s,
                    duration_s=args.duration_s,
                )
            )

        driver = threading.Thread(target=load)
        driver.start()
        driver.join(warmup_s)  # py-spy samples the counted window only
        spies = {
            "all": _py_spy(server.pid, args.duration_s, args.out / "all.txt", []),
            "gil": _py_spy(server.pid, args.duration_s, args.out / "gil.txt", ["--gil"]),
        }
        for spy in spies.values():
            spy.wait()
        driver.join()
    point = {**result, **derived(result)}
    print(
        f"{args.workload} x{args.pairs_per_request}, {args.concurrency} clients, {settings}: "
        f"{point['throughput_pairs_per_s']:.1f} pairs/s, p50 {point['latency_ms'].get('p50', 0):.0f} ms, "
        f"mean batch {point['mean_batch_size']}, mean pass {point['mean_forward_ms']} ms, "
        f"padding eff. {point['padding_efficiency']}, server CPU {point['server_cpu_cores']} cores"
    )
    for name, spy in spies.items():
        raw = args.out / f"{name}.txt"
        if spy.returncode != 0 or not raw.is_file():
            print(f"py-spy ({name}) failed: {spy.stderr.read().decode()[-500:] if spy.stderr else ''}")
            continue
        summary = summarise(raw)
        print(f"\n== {name}: {summary['samples']} samples; by thread: ")
        for thread, share in summary["threads"].items():
            print(f"   {share:6.1%}  {thread}")
        print("   top functions (self):")
        for function, share in summary["top_self"]:
            print(f"   {share:6.1%}  {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
