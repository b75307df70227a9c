"""One real `rmserve serve` process per model folder for the whole test session, on the one launcher
(`loadtest.server.start_server`: a free loopback port, readiness awaited by polling /ready, SIGTERM to stop)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from loadtest.server import REPO_ROOT as REPO_ROOT  # re-exported: tests locate the repository through it
from loadtest.server import start_server

_SHARED: dict[Path, str] = {}


def shared_server(config: pytest.Config, model_dir: Path) -> str:
    """The URL of one server per model folder for the whole test session (started on first use, stopped at
    the end of the session), so that the test modules that need a live server share its start-up cost."""
    key = model_dir.resolve()
    if key not in _SHARED:
        stack = ExitStack()
        # fp32: the tests that share it compare scores across requests at 1e-5, and a reduced precision that
        # `dtype auto` may choose on this CPU (bf16) rounds differently with other batch neighbours.
        server = start_server(model_dir, {"RMSERVE_DTYPE": "fp32"}, ready_timeout_s=180.0)
        _SHARED[key] = stack.enter_context(server).url
        config.add_cleanup(stack.close)
        config.add_cleanup(lambda: _forget(key))
    return _SHARED[key]


def _forget(key: Path) -> None:
    _SHARED.pop(key, None)
