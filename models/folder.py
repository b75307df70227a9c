"""Inspect a reward-model folder without importing torch: what it holds, what kind of RM it is, its tokenizer.

A servable folder holds a Hugging Face `config.json`, a tokenizer, and weights as safetensors
(`*.safetensors`) or an ONNX graph (`model.onnx`). Pickle weights (`*.bin`, `*.pt`) are refused: loading
them runs arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.card import ModelCard, read_card
from models.errors import UserError
from models.formatting import ModelKind, PairFormatter
from models.tokenizer import RMTokenizer, TokenizerLoadError

ONNX_FILENAME = "model.onnx"
ENCODER_MODEL_TYPES = frozenset(
    {
        "albert",
        "bert",
        "camembert",
        "deberta",
        "deberta-v2",
        "distilbert",
        "electra",
        "modernbert",
        "mpnet",
        "roberta",
        "xlm-roberta",
    }
)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class ModelLoadError(UserError, RuntimeError):
    """The model folder is missing, incomplete, unsafe or not a single-output reward model."""


@dataclass(frozen=True)
class ModelFolder:
    """What a reward-model folder holds. Build it with `inspect_model_folder`."""

    path: Path
    config: dict[str, Any]
    kind: ModelKind
    safetensors_files: tuple[Path, ...]
    onnx_file: Path | None
    card: ModelCard | None

    @property
    def architecture(self) -> str:
        archs = self.config.get("architectures") or [self.config.get("model_type", "unknown")]
        return str(archs[0])

    @property
    def name(self) -> str:
        return self.card.name if self.card else self.path.name

    def weights_digest(self, prefer_onnx: bool) -> str:
        """sha256 over the weight files that will be served (hex, first 16 characters)."""
        files = [self.onnx_file] if prefer_onnx and self.onnx_file else list(self.safetensors_files)
        digest = hashlib.sha256()
        for path in files:
            assert path is not None
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            external = path.with_name(path.name + ".data")
            if external.is_file():
                digest.update(external.read_bytes())
        return digest.hexdigest()[:16]


def model_kind(config: dict[str, Any]) -> ModelKind:
    """Encoder RMs read a text pair; every other architecture is treated as a decoder RM."""
    return "encoder" if config.get("model_type") in ENCODER_MODEL_TYPES else "decoder"


def inspect_model_folder(path: str | os.PathLike[str]) -> ModelFolder:
    """Check that `path` is a usable reward-model folder and describe it. Raises ModelLoadError."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder} does not exist")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"model folder {folder} has no config.json (is it a Hugging Face model folder?)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON: {exc}") from exc
    safetensors_files = tuple(sorted(folder.glob("*.safetensors")))
    onnx_path = folder / ONNX_FILENAME
    onnx_file = onnx_path if onnx_path.is_file() else None
    if not safetensors_files and onnx_file is None:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        if pickles:
            raise ModelLoadError(
                f"model folder {folder} holds only pickle weights ({', '.join(pickles)}); rmserve loads "
                "safetensors only. Convert with: model.save_pretrained(dir, safe_serialization=True)"
            )
        raise ModelLoadError(f"model folder {folder} holds no weights (*.safetensors or {ONNX_FILENAME})")
    try:
        card = read_card(folder)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from exc
    return ModelFolder(folder, config, model_kind(config), safetensors_files, onnx_file, card)


def load_tokenizer(folder: ModelFolder) -> RMTokenizer:
    """Load the folder's tokenizer (no transformers, no torch). Raises ModelLoadError."""
    try:
        return RMTokenizer.from_folder(folder.path)
    except TokenizerLoadError as exc:
        raise ModelLoadError(str(exc)) from exc


def resolve_max_length(folder: ModelFolder, tokenizer: RMTokenizer, requested: int | None) -> int:
    """The longest input to feed the model: the request, capped by what the model and tokenizer allow."""
    limits = [folder.config.get("max_position_embeddings"), tokenizer.model_max_length]
    if folder.card and folder.card.max_length:
        limits.append(folder.card.max_length)
    if requested:
        limits.append(requested)
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(usable) if usable else 512


def build_formatter(folder: ModelFolder, tokenizer: RMTokenizer, max_length: int | None = None) -> PairFormatter:
    return PairFormatter(tokenizer, folder.kind, resolve_max_length(folder, tokenizer, max_length))
