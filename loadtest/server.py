"""The server under test: the real `rmserve serve` process on a loopback port, and what it says about itself.

The one launcher of the benchmarks and of the test suite. `launch_server` starts `python -m service.cli
serve` with `RMSERVE_*` settings, waits (by polling /ready, never a fixed sleep) until it is ready and
returns a `RunningServer`, which the caller stops (`stop()`: SIGTERM, its graceful path, then SIGKILL if it
does not exit in time); `start_server` is the same as a context manager. `wait_until` polls a condition on
observable state. `process_cpu_s` reads a process's CPU seconds (user + system, every thread) from
/proc/<pid>/stat; `parse_metrics` turns the Prometheus text of /metrics into {sample name with labels: value}.

Standard library only, so that the load generator can import it and stay light.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The command that runs a module: `python -m`; a test may put a wrapper script in its place.
PYTHON_MODULE = (sys.executable, "-m")


class ServerStartError(RuntimeError):
    """The server exited or did not turn ready in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class RunningServer:
    """A started `rmserve serve` process. Not thread-safe to `stop` from two threads at once."""

    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    settings: Mapping[str, str]  # the RMSERVE_* environment it was started with
    log_path: Path  # its stdout and stderr together

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (from /proc/<pid>/statm)."""
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * _PAGE_SIZE

    def metrics(self) -> dict[str, float]:
        return parse_metrics(http_get(self.url + "/metrics", timeout_s=30.0).decode())

    def served(self) -> dict[str, Any]:
        """What this start serves, from /v1/models: `backend`, `dtype` and `choice` (how and why they were
        chosen), so a benchmark's summary can say which configuration it measured."""
        info: dict[str, Any] = json.loads(http_get(self.url + "/v1/models", timeout_s=10.0))
        return {"backend": info["backend"], "dtype": info["dtype"], "choice": info.get("choice")}

    def metric(self, name: str) -> float:
        """One sample of /metrics (`name` with its labels, as exposed), 0.0 when absent."""
        return self.metrics().get(name, 0.0)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (the graceful path), then SIGKILL if it does not exit within `timeout_s`; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll `condition` (on observable state: synchronisation on state, never on elapsed time) until it is
    true; raise TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:g} s")
        time.sleep(0.01)


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


def server_environment(
    settings: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a server process: this one's, without its RMSERVE_* settings (a test or a benchmark
    states every setting it relies on; RMSERVE_CACHE_DIR, where the default model is cached, is kept), offline,
    then `env`, then `settings` (full `RMSERVE_*` names)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RMSERVE_") or k == "RMSERVE_CACHE_DIR"}
    return {
        **inherited,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **(env or {}),
        **(settings or {}),
    }


def launch_server(
    model_dir: Path | None,
    settings: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    python: Sequence[str] = PYTHON_MODULE,
    ready_timeout_s: float = 300.0,
) -> RunningServer:
    """Start `rmserve serve` for `model_dir` (None: the embedded default model) on a free loopback port with
    the `RMSERVE_*` environment `settings` (e.g. {"RMSERVE_MAX_BATCH_SIZE": "1"}), command-line `args` and
    extra environment `env`, and return it once /ready answers 200; the caller stops it.

    The log goes to `log_path` (default: a new temporary file; `start_server` removes it). `python` is the
    command that runs a module (`python -m`, or a wrapper script that takes the module name). Raises
    ServerStartError, with the log's tail, when the process exits or is not ready within `ready_timeout_s`.
    """
    port = free_port()
    full_env = server_environment(settings, env)
    full_env.update({"RMSERVE_HOST": "127.0.0.1", "RMSERVE_PORT": str(port)})
    if model_dir is not None:
        full_env["RMSERVE_MODEL"] = str(model_dir)
    if log_path is None:
        log_file, log_name = tempfile.mkstemp(prefix=f"rmserve-{port}-", suffix=".log")
        os.close(log_file)
        log_path = Path(log_name)
    command = [*python, "service.cli", "serve", *args]
    with log_path.open("w+b") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        server = RunningServer(
            process,
            f"http://127.0.0.1:{port}",
            {k: v for k, v in full_env.items() if k.startswith("RMSERVE_")},
            log_path,
        )
        try:
            _wait_ready(process, server.url, ready_timeout_s, log)
        except BaseException:
            server.stop()
            raise
    return server


@contextmanager
def start_server(
    model_dir: Path | None,
    settings: Mapping[str, str] | None = None,
    ready_timeout_s: float = 300.0,
    stop_timeout_s: float = 60.0,
    **options: Any,
) -> Iterator[RunningServer]:
    """`launch_server` as a context manager: yield the ready server, stop it on exit (see `launch_server`
    for `options`). The server logs at warning level unless `settings` say otherwise: no access-log line on
    the path a benchmark measures."""
    settings = {"RMSERVE_LOG_LEVEL": "warning", **(settings or {})}
    server = launch_server(model_dir, settings, ready_timeout_s=ready_timeout_s, **options)
    try:
        yield server
    finally:
        server.stop(stop_timeout_s)
        if "log_path" not in options:
            server.log_path.unlink(missing_ok=True)


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
