"""Load the model to serve: the folder, its tokenizer and formatter, and the backend the settings ask for.

`build_backend` is the one place that picks a backend. torch and onnxruntime are imported only inside the
chosen backend's module, so serving an ONNX model never imports torch.
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
    inspect_model_folder,
    load_tokenizer,
    resolve_max_length,
)
from models.formatting import PairFormatter
from models.heads import RewardHead, read_head
from models.steps import StepFormatter
from models.tokenizer import RMTokenizer
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


def resolve_model_dir(settings: Settings) -> Path:
    """The folder to serve: `settings.model`, or the embedded default model (built on first use)."""
    if settings.model is not None:
        return settings.model
    from models.default_model import ensure_default_model

    return Path(ensure_default_model(progress=False))


def backend_name_for(settings: Settings, folder: ModelFolder) -> str:
    """auto -> onnx when the folder holds model.onnx, else torch."""
    if settings.backend != "auto":
        return settings.backend
    return "onnx" if folder.onnx_file is not None else "torch"


def _import_factory(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelLoadError(f"backend_factory must look like 'module:callable', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot import backend_factory {spec!r}: {exc}") from exc


def build_backend(
    settings: Settings, folder: ModelFolder, tokenizer: RMTokenizer, head: RewardHead | None = None
) -> Backend:
    """The backend for `folder` under `settings` (the only function that chooses one). The ONNX backend
    serves one-output reward models only: `rmserve export` writes no graph for other heads."""
    head = head or RewardHead("reward")
    if settings.backend_factory:
        backend: Backend = _import_factory(settings.backend_factory)(folder, settings)
        return backend
    threads = settings.resolved_threads_per_worker()
    if backend_name_for(settings, folder) == "onnx":
        if head.kind != "reward":
            raise ModelLoadError(
                f"{folder.path} has a {head.kind.replace('_', '-')} head, which the onnx backend does not serve "
                "(rmserve export writes one-output reward models only); serve it with --backend torch"
            )
        if folder.onnx_file is None:
            raise ModelLoadError(f"--backend onnx needs {folder.path}/model.onnx; export one with rmserve export")
        from service.backends.onnx_backend import OnnxBackend

        onnx_backend: Backend = OnnxBackend(
            folder,
            pad_token_id=tokenizer.pad_token_id,
            device=settings.device,
            threads_per_worker=threads,
            providers=settings.onnx_provider_list or None,
        )
        return onnx_backend
    from service.backends.torch_backend import TorchBackend

    return TorchBackend(
        folder,
        tokenizer.pad_token_id,
        device=settings.device,
        dtype=settings.dtype,
        threads_per_worker=threads,
        trust_remote_code=settings.trust_remote_code,
        head=head,
    )


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
        backend = build_backend(settings, folder, tokenizer, head)
    digest = folder.weights_digest(prefer_onnx=backend.name == "onnx")
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
    return LoadedModel(folder, tokenizer, formatter, backend, digest, head, step_formatter, max_length)
