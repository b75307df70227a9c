"""Start the real `rmserve serve` process on a free loopback port and wait until /ready says so.

Readiness is awaited by polling /ready (and checking the process is still alive), never by a fixed sleep.
The process is stopped with SIGTERM (its graceful path) and killed only if it does not exit in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_SHARED: dict[Path, str] = {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(model_dir: Path, *extra_args: str, ready_timeout_s: float = 180.0) -> Iterator[str]:
    """Yield the base URL of a ready server for `model_dir`; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RMSERVE_LOG_LEVEL": "warning"}
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        *extra_args,
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, ready_timeout_s, log)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def shared_server(config: pytest.Config, model_dir: Path) -> str:
    """The URL of one server per model folder for the whole test session (started on first use, stopped at
    the end of the session), so that the test modules that need a live server share its start-up cost."""
    key = model_dir.resolve()
    if key not in _SHARED:
        stack = ExitStack()
        _SHARED[key] = stack.enter_context(running_server(model_dir))
        config.add_cleanup(stack.close)
        config.add_cleanup(lambda: _forget(key))
    return _SHARED[key]


def _forget(key: Path) -> None:
    _SHARED.pop(key, None)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"rmserve exited with {process.returncode} before ready:\n{_tail(log)}")
            try:
                if http.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # polling interval of the readiness probe, not a synchronisation
    raise RuntimeError(f"rmserve was not ready within {timeout_s:g} s:\n{_tail(log)}")


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-4000:]
