"""`python -m loadtest.gpu_payload --dest .gpu`: what `loadtest.gpu_check` reads on the device machine.

The device receives the working tree and the paths a call carries (64 MiB in all) and reaches no registry
or hub there, so what the check needs beyond the code travels in one git-ignored folder:

- `default-model/`: the embedded default model (built here first if not cached) with its weights stored
  as fp16 (22.7 M parameters: 45 MB instead of 90 MB; all-MiniLM-L6-v2's own package is too large to
  carry). The card's reference scores are re-scored from the fp16 weights in fp32 here, so the server's
  start-up self-test checks this copy, not the original. The check computes in fp32, fp16 and bf16 from
  these weights: its fidelity figures compare arithmetic on one set of weights.
- `harmless-base-test.jsonl.gz`: the HH-RLHF file, when present beside the checkout (its rows :1800 load
  the service; its last 512 rows are the fidelity pairs). Transport only: it never enters the project.

`loadtest/gpu_wheels.sh` runs this after fetching the wheels.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtest.workload import hh_data_path
from models.card import read_card, write_card
from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.selftest import compute_reference_pairs, reference_pairs_to_store
from models.tokenizer import copy_tokenizer_files


def write_model_fp16(source: Path, out: Path) -> Path:
    """Copy the reward model at `source` into `out` with fp16 weights; re-score its card's reference pairs
    (fp32 arithmetic on the fp16 weights, CPU) so that the copy passes the server's self-test."""
    import torch

    from models.torch_model import load_torch_reward_model, score_encoded

    folder = inspect_model_folder(source)
    tokenizer = load_tokenizer(folder)
    model = load_torch_reward_model(folder, tokenizer.pad_token_id, device="cpu", dtype="fp32")
    if out.exists():
        shutil.rmtree(out)
    model.to(torch.float16).save_pretrained(str(out), safe_serialization=True)
    copy_tokenizer_files(source, out)
    card = read_card(source)
    if card is not None:
        copied = inspect_model_folder(out)
        reloaded = load_torch_reward_model(copied, tokenizer.pad_token_id, device="cpu", dtype="fp32")
        formatter = build_formatter(copied, tokenizer)
        pairs = compute_reference_pairs(
            reference_pairs_to_store(card),
            formatter,
            lambda batch: score_encoded(reloaded, batch, tokenizer.pad_token_id),
        )
        write_card(out, card.model_copy(update={"reference_pairs": pairs}))
    return out


def write_payload(dest: Path, model_dir: Path | None = None) -> dict[str, str]:
    """Fill `dest` (see the module docstring); returns {what: path written}."""
    from models.default_model import ensure_default_model

    dest.mkdir(parents=True, exist_ok=True)
    source = model_dir or ensure_default_model(progress=False)
    written = {"encoder": str(write_model_fp16(source, dest / "default-model"))}
    hh = hh_data_path()
    if hh is not None:
        shutil.copyfile(hh, dest / hh.name)
        written["hh"] = str(dest / hh.name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, required=True, help="folder to fill (git-ignored; carried)")
    parser.add_argument("--model", type=Path, default=None, help="encoder RM folder (default: the default model)")
    args = parser.parse_args(argv)
    for what, path in write_payload(args.dest, args.model).items():
        print(f"{what}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
