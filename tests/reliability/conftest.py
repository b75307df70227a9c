"""Shared parts of the reliability suite: the real server process, its observable state, and the figures.

Every test here talks HTTP to a real `rmserve serve` process on a loopback port (started with
`tests.service.server_process`'s port picker and readiness wait). Scenarios about the service rather than
the model use a fake backend from `tests.reliability.backends`, loaded in the server by
`RMSERVE_BACKEND_FACTORY`; the tokenizer still comes from the small real model folder.

Each scenario writes its figures (requests sent, succeeded, refused, failed, lost, ...) to
`reports/reliability/<scenario>.json` (git-ignored); `python -m loadtest.reliability_report` turns them
into the table of `docs/reliability.md`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import PairFormatter
from tests.service.fault_backends import reference_score
from tests.service.server_process import REPO_ROOT, _wait_ready, free_port

FIGURES_DIR = REPO_ROOT / "reports" / "reliability"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll a condition on observable state (synchronisation on state, never on elapsed time)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:g} s")
        time.sleep(0.01)


@dataclass
class ServerProcess:
    """A running `rmserve serve` process, its URL and its combined stdout/stderr log file."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        """The Prometheus samples, {'name{labels}': value}."""
        samples: dict[str, float] = {}
        for line in httpx.get(f"{self.url}/metrics", timeout=30).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (from /proc/<pid>/statm)."""
        resident_pages = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        return resident_pages * _PAGE_SIZE

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (the graceful path), then SIGKILL if it does not exit in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    model_dir: Path, settings: Mapping[str, str], log_dir: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start `rmserve serve --model model_dir` with `RMSERVE_*` settings (names without the prefix, e.g.
    {"workers": "1"}) and extra environment; return once /ready answers 200."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RMSERVE_") or k == "RMSERVE_CACHE_DIR"}
    full_env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})})
    full_env.update({f"RMSERVE_{name.upper()}": value for name, value in settings.items()})
    command = [sys.executable, "-m", "service.cli", "serve", "--model", str(model_dir), "--port", str(port)]
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("w+b") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
        try:
            _wait_ready(process, server.url, 300.0, log)
        except BaseException:
            server.stop()
            raise
    return server


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-logs")


@pytest.fixture(scope="session")
def formatter(tiny_encoder_dir: Path) -> PairFormatter:
    """The formatter the server builds for `tiny_encoder_dir` (default max_length)."""
    folder = inspect_model_folder(tiny_encoder_dir)
    return build_formatter(folder, load_tokenizer(folder))


def expected_score(formatter: PairFormatter, prompt: str, response: str) -> float:
    """What the fake backends answer for this pair."""
    return reference_score(formatter.encode(prompt, response))


def record_figures(scenario: str, command: str, **figures: Any) -> None:
    """Write one scenario's figures for `loadtest.reliability_report`; `lost` must be 0 by the time this runs."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "scenario": scenario,
        "command": command,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    payload.update(figures)
    (FIGURES_DIR / f"{_slug(scenario)}.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rerun_command(test_file: str, test_name: str | None = None) -> str:
    target = f"tests/reliability/{test_file}" + (f"::{test_name}" if test_name else "")
    return f".venv/bin/python -m pytest {target} -q"


@pytest.fixture(scope="module")
def module_servers() -> Iterator[list[ServerProcess]]:
    """Servers a module started; each is stopped (SIGTERM, then SIGKILL) at the end of the module."""
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()
