"""Headless locust run of `loadtest/locustfile.py` with pass/fail thresholds; exits non-zero when one breaks.

    python -m loadtest.run_locust --users 16 --run-time 60s --max-p95-ms 2000
    python -m loadtest.run_locust --host http://127.0.0.1:8000 ...   # against a server already running

Without `--host` it starts `rmserve serve` (on `--model`, default the embedded default model) on a free
loopback port and stops it afterwards. Thresholds: no failed request (`--max-fail-ratio`, default 0) and
a p95 bound over all requests (`--max-p95-ms`). The exit code is locust's: 0 when every threshold held,
1 when one broke (the reason is printed), 2 and above for errors of the run itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtest.server import REPO_ROOT, start_server

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def locust_command(host: str, args: argparse.Namespace) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        args.run_time,
        "--stop-timeout",
        "30",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--max-p95-ms",
        str(args.max_p95_ms),
        "--max-fail-ratio",
        str(args.max_fail_ratio),
    ]
    if args.csv:
        command += ["--csv", str(args.csv)]
    return command


def run(host: str, args: argparse.Namespace) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(locust_command(host, args), cwd=REPO_ROOT, env=env, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.run_locust", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=None, help="a running server's URL (default: start one)")
    parser.add_argument("--model", type=Path, default=None, help="model folder for the started server")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="RMSERVE_* setting")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--spawn-rate", type=float, default=8.0)
    parser.add_argument("--run-time", default="60s", help="locust duration, e.g. 30s, 2m")
    parser.add_argument("--max-p95-ms", type=float, default=5000.0, help="p95 bound over all requests (0: none)")
    parser.add_argument("--max-fail-ratio", type=float, default=0.0)
    parser.add_argument("--csv", type=Path, default=None, help="CSV prefix for locust's statistics")
    args = parser.parse_args(argv)
    if args.host:
        return run(args.host, args)
    settings = dict(item.split("=", 1) for item in args.server_env)
    with start_server(args.model, settings) as server:
        return run(server.url, args)


if __name__ == "__main__":
    sys.exit(main())
