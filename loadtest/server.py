"""The server under test: the real `rmserve serve` process on a loopback port, and what it says about itself.

`start_server` launches `python -m service.cli serve` with `RMSERVE_*` settings, waits (by polling /ready,
never a fixed sleep) until it is ready, and stops it with SIGTERM (its graceful path) afterwards.
`process_cpu_s` reads a process's CPU seconds (user + system, every thread) from /proc/<pid>/stat;
`parse_metrics` turns the Prometheus text of /metrics into {sample name with labels: value}.

Standard library only, so that the load generator can import it and stay light.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class ServerStartError(RuntimeError):
    """The server exited or did not turn ready in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    pid: int
    settings: Mapping[str, str]  # the RMSERVE_* environment it was started with

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(http_get(self.url + "/metrics").decode())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS_PER_S


def wait_until_idle(
    pids: Sequence[int], quiet_cores: float = 0.05, interval_s: float = 0.25, timeout_s: float = 60.0
) -> float:
    """Block until the processes `pids` together use under `quiet_cores` of CPU over one `interval_s`, or
    `timeout_s` has passed; returns the seconds waited.

    A point must not start while a server is still finishing the last one: a closed-loop window abandons
    its in-flight requests, but a batch already running cannot be recalled, and a 32-pair batch of long
    pairs runs for seconds, on the same cores as the next point's server.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = sum(process_cpu_s(pid) for pid in pids)
        time.sleep(interval_s)
        if (sum(process_cpu_s(pid) for pid in pids) - before) / interval_s < quiet_cores:
            break
    return time.monotonic() - started


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value} (comments skipped; labels kept verbatim)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            samples[name] = float(value)
        except ValueError:
            continue
    return samples


def http_get(url: str, timeout_s: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body: bytes = response.read()
        return body


@contextmanager
def start_server(
    model_dir: Path | None,
    settings: Mapping[str, str] | None = None,
    ready_timeout_s: float = 300.0,
    stop_timeout_s: float = 60.0,
) -> Iterator[RunningServer]:
    """Yield a ready server for `model_dir` (None: the embedded default model) started with the given
    `RMSERVE_*` environment settings (e.g. {"RMSERVE_MAX_BATCH_SIZE": "1"}); stop it afterwards.

    Raises ServerStartError when the process exits or is not ready within `ready_timeout_s`.
    """
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RMSERVE_LOG_LEVEL": "warning",
        **(settings or {}),
        "RMSERVE_HOST": "127.0.0.1",
        "RMSERVE_PORT": str(port),
    }
    if model_dir is not None:
        env["RMSERVE_MODEL"] = str(model_dir)
    command = [sys.executable, "-m", "service.cli", "serve"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, ready_timeout_s, log)
            yield RunningServer(url, process.pid, {k: v for k, v in env.items() if k.startswith("RMSERVE_")})
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(f"rmserve exited with {process.returncode} before ready:\n{_tail(log)}")
        try:
            http_get(url + "/ready", timeout_s=2.0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while loading
        time.sleep(0.2)  # polling interval of the readiness probe, not a synchronisation
    raise ServerStartError(f"rmserve was not ready within {timeout_s:g} s:\n{_tail(log)}")


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-4000:]
