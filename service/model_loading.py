"""Load the model to serve: the folder, its tokenizer and formatter, and the backend the settings ask for.

`service.backend_choice.choose_backend` is the one place that picks a backend and precision. torch,
onnxruntime and openvino are imported only inside the backends' modules, so serving an ONNX model never
imports torch.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.folder import (
    ModelFolder,
    ModelLoadError,
    build_formatter,
    inspect_model_folder,
    load_tokenizer,
    resolve_max_length,
)
from models.formatting import PairFormatter
from models.heads import RewardHead, read_head
from models.steps import StepFormatter
from models.tokenizer import RMTokenizer
from service.backend_choice import Choice, choose_backend, model_family
from service.backends.base import Backend
from service.settings import Settings

logger = logging.getLogger("rmserve")


@dataclass
class LoadedModel:
    """Everything serving needs from a model folder."""

    folder: ModelFolder
    tokenizer: RMTokenizer
    formatter: PairFormatter | None  # None for a process reward model, which scores steps, not pairs
    backend: Backend
    weights_digest: str
    head: RewardHead
    step_formatter: StepFormatter | None  # set for process reward models
    max_length: int
    choice: Choice  # how the backend and precision were chosen


def resolve_model_dir(settings: Settings) -> Path:
    """The folder to serve: `settings.model`, or the embedded default model (built on first use)."""
    if settings.model is not None:
        return settings.model
    from models.default_model import ensure_default_model

    return Path(ensure_default_model(progress=False))


def backend_name_for(settings: Settings, folder: ModelFolder) -> str:
    """The model file a setting serves: the explicit backend, else onnx for a folder with model.onnx, else
    torch (the backend and precision that run it are `choose_backend`'s to pick)."""
    return model_family(settings, folder)


def _import_factory(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelLoadError(f"backend_factory must look like 'module:callable', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot import backend_factory {spec!r}: {exc}") from exc


def build_backend_and_choice(
    settings: Settings,
    folder: ModelFolder,
    tokenizer: RMTokenizer,
    formatter: PairFormatter | None,
    head: RewardHead | None = None,
) -> tuple[Backend, Choice]:
    """The backend for `folder` under `settings` and why: a `backend_factory` when one is set, else the
    choice of `service.backend_choice.choose_backend` (the only function that picks a backend)."""
    if settings.backend_factory:
        backend: Backend = _import_factory(settings.backend_factory)(folder, settings)
        reason = f"backend_factory {settings.backend_factory}"
        return backend, Choice(backend.name, backend.dtype, "explicit", reason, {}, [])
    return choose_backend(settings, folder, tokenizer, formatter, head or RewardHead("reward"))


def build_backend(
    settings: Settings, folder: ModelFolder, tokenizer: RMTokenizer, head: RewardHead | None = None
) -> Backend:
    """`build_backend_and_choice` for callers that need only the backend (the limit search)."""
    head = head or RewardHead("reward")
    formatter = build_formatter(folder, tokenizer, settings.max_length) if head.kind != "process" else None
    return build_backend_and_choice(settings, folder, tokenizer, formatter, head)[0]


def load_model(settings: Settings, backend: Backend | None = None) -> LoadedModel:
    """Inspect the folder, load its tokenizer and formatter, and build (or adopt) the backend.

    Raises ModelLoadError (a UserError) for a missing, unsafe or headless folder.
    """
    folder = inspect_model_folder(resolve_model_dir(settings))
    tokenizer = load_tokenizer(folder)
    head = read_head(str(folder.path), folder.config, folder.card, settings.trust_remote_code)
    max_length = resolve_max_length(folder, tokenizer, settings.max_length)
    # A process model's tokenizer may have no chat template (TRL's format needs none): it gets no pair formatter.
    formatter = PairFormatter(tokenizer, folder.kind, max_length) if head.kind != "process" else None
    step_formatter = StepFormatter(tokenizer, head, max_length) if head.kind == "process" else None
    if backend is None:
        backend, choice = build_backend_and_choice(settings, folder, tokenizer, formatter, head)
    else:
        choice = Choice(backend.name, backend.dtype, "explicit", "a backend given to the app", {}, [])
    digest = folder.weights_digest(prefer_onnx=backend.name in ("onnx", "openvino"))
    logger.info(
        "loaded %s (%s, %s, %s head) on %s/%s %s, max_length %d, weights %s",
        folder.name,
        folder.architecture,
        folder.kind,
        head.kind,
        backend.name,
        backend.device,
        backend.dtype,
        max_length,
        digest,
    )
    return LoadedModel(folder, tokenizer, formatter, backend, digest, head, step_formatter, max_length, choice)
