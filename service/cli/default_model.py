"""`rmserve default-model`: build the embedded default reward model if it is not cached; print its folder.

The first run trains it (a few minutes on two CPU cores, about 10 CPU-minutes); later runs find it in the cache
(`$RMSERVE_CACHE_DIR`, else `~/.cache/rmserve`). `--json` prints one object with the path and the
held-out accuracy recorded in its card.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", help="cache folder (default: $RMSERVE_CACHE_DIR, else ~/.cache/rmserve)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the path and accuracy")
    parser.add_argument("--quiet", action="store_true", help="no progress bar while building")


def run(args: argparse.Namespace) -> int:
    import time

    from models.card import read_card
    from models.default_model import default_model_path, ensure_default_model

    started = time.perf_counter()
    was_cached = default_model_path(args.cache_dir).is_dir()
    path = ensure_default_model(args.cache_dir, progress=not args.quiet)
    if not args.json:
        print(path)
        return 0
    card = read_card(path)
    print(
        json.dumps(
            {
                "path": str(path),
                "name": card.name if card else path.name,
                "heldout_accuracy": card.heldout_accuracy if card else None,
                "heldout_pairs": card.heldout_pairs if card else None,
                "built": not was_cached,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    return 0
