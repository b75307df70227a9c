"""`rmserve serve`: serve a reward model over HTTP (uvicorn).

Every setting of `service.settings.Settings` is a flag (`--max-batch-size 1`) and an environment variable
(`RMSERVE_MAX_BATCH_SIZE=1`); flags win. On SIGTERM (or Ctrl-C) the server turns not-ready, stops
accepting connections, finishes the requests it accepted within `--shutdown-grace-s`, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from types import FrameType
from typing import Any

from models.errors import UserError, validation_problems

_SHORT_HELP = {
    "model": "model folder (default: the embedded default model)",
    "backend": "auto | torch | onnx | openvino (auto: the fastest faithful one for the folder and the CPU)",
    "device": "cpu | cuda | cuda:N",
    "dtype": "auto | fp32 | fp16 | bf16 (auto: bf16 where the CPU has the units and it passes the fidelity gate)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from service.settings import Settings

    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = _SHORT_HELP.get(name) or field.description or name.replace("_", " ")
        env = f"env RMSERVE_{name.upper()}"
        if field.annotation is bool:
            # --name / --no-name: a setting that defaults to true (lanes) can be turned off too.
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=f"{help_text} ({env})"
            )
        else:
            parser.add_argument(flag, dest=name, default=None, help=f"{help_text} ({env})")


def build_settings(args: argparse.Namespace) -> Any:
    """Settings from the environment, overridden by the flags that were given."""
    from pydantic import ValidationError

    from service.settings import Settings

    overrides = {
        name: value for name, value in vars(args).items() if name in Settings.model_fields and value is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise UserError(f"invalid settings: {validation_problems(exc)}") from None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from models.folder import inspect_model_folder
    from service.app import create_app
    from service.settings import check_bind_safety

    # The service tokenizes each request on its own small thread pool; the tokenizers library's rayon pool
    # would add a thread per core on top, competing with the backend workers for the same cores.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A server's log goes to a log collector, not a terminal: no progress bars (transformers draws one
    # while it loads weights). Read by huggingface_hub when it is imported, which happens after this.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    settings = build_settings(args)
    check_bind_safety(settings)
    if settings.model is not None:
        inspect_model_folder(settings.model)  # fail fast, before the server starts, on a bad folder
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, freeze_gc=True)
    # Each time the event loop comes back from the socket it must retake the GIL from whichever tokenizer
    # or backend thread holds it, up to one switch interval per wait. At Python's 5 ms, /health p99 under
    # 128 x 16-pair saturating clients was 36-54 ms; at 1 ms, 12-20 ms (onnx int8, 2 cores; 500+ probes).
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000.0)
    state = app.state.service

    class DrainingServer(uvicorn.Server):
        """uvicorn, with readiness withdrawn the moment a stop signal arrives."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            state.begin_drain()
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:
                # A drain on SIGTERM is the normal way to stop: exit 0 instead of re-raising the signal.
                self._captured_signals.clear()

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        lifespan="on",
    )
    server = DrainingServer(config)

    def on_fatal() -> None:
        server.should_exit = True

    state.on_fatal = on_fatal
    server.run()
    return 1 if state.phase == "failed" else 0
