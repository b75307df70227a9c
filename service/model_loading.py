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
    build_formatter,
    inspect_model_folder,
    load_tokenizer,
)
from models.formatting import PairFormatter
from models.tokenizer import RMTokenizer
from service.backends.base import Backend
from service.settings import Settings

logger = logging.getLogger("rmserve")


@dataclass
class LoadedModel:
    """Everything serving needs from a model folder."""

    folder: ModelFolder
    tokenizer: RMTokenizer
    formatter: PairFormatter
    backend: Backend
    weights_digest: str

    @property
    def max_length(self) -> int:
        return self.formatter.max_length


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


def build_backend(settings: Settings, folder: ModelFolder, tokenizer: RMTokenizer) -> Backend:
    """The backend for `folder` under `settings` (the only function that chooses one)."""
    if settings.backend_factory:
        backend: Backend = _import_factory(settings.backend_factory)(folder, settings)
        return backend
    threads = settings.resolved_threads_per_worker()
    if backend_name_for(settings, folder) == "onnx":
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
    )


def load_model(settings: Settings, backend: Backend | None = None) -> LoadedModel:
    """Inspect the folder, load its tokenizer and formatter, and build (or adopt) the backend.

    Raises ModelLoadError (a UserError) for a missing, unsafe or headless folder.
    """
    folder = inspect_model_folder(resolve_model_dir(settings))
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, settings.max_length)
    if backend is None:
        backend = build_backend(settings, folder, tokenizer)
    digest = folder.weights_digest(prefer_onnx=backend.name == "onnx")
    logger.info(
        "loaded %s (%s, %s) on %s/%s %s, max_length %d, weights %s",
        folder.name,
        folder.architecture,
        folder.kind,
        backend.name,
        backend.device,
        backend.dtype,
        formatter.max_length,
        digest,
    )
    return LoadedModel(folder, tokenizer, formatter, backend, digest)
