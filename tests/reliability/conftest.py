"""Shared parts of the reliability suite: the real server process, its observable state, and the figures.

Every test here talks HTTP to a real `rmserve serve` process on a loopback port (started by the one
launcher, `loadtest.server`). Scenarios about the service rather than
the model use a fake backend from `tests.reliability.backends`, loaded in the server by
`RMSERVE_BACKEND_FACTORY`; the tokenizer still comes from the small real model folder.

Each scenario writes its figures (requests sent, succeeded, refused, failed, lost, ...) to
`reports/reliability/<scenario>.json` (git-ignored); `python -m loadtest.reliability_report` turns them
into the table of `docs/reliability.md`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from loadtest.server import REPO_ROOT, RunningServer, launch_server
from loadtest.server import wait_until as wait_until  # re-exported for the suite
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import PairFormatter
from tests.service.fault_backends import reference_score

FIGURES_DIR = REPO_ROOT / "reports" / "reliability"


# The reliability suite's servers are the one launcher's (`loadtest.server`); the old name stays for its tests.
ServerProcess = RunningServer
_LOG_NUMBERS = itertools.count()


def start_server(
    model_dir: Path, settings: Mapping[str, str], log_dir: Path, env: Mapping[str, str] | None = None
) -> RunningServer:
    """`loadtest.server.launch_server` for `rmserve serve --model model_dir` with `RMSERVE_*` settings named
    without the prefix (e.g. {"workers": "1"}), extra environment `env`, and its log in `log_dir`; returns
    once /ready answers 200. The caller stops it (`server.stop()`, or the `module_servers` fixture)."""
    named = {f"RMSERVE_{name.upper()}": value for name, value in settings.items()}
    log_path = log_dir / f"server-{next(_LOG_NUMBERS)}.log"
    return launch_server(model_dir, named, env=env, log_path=log_path)


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
