"""The torch backend: batch invariance for encoder and decoder RMs, reduced precision, CUDA (marked gpu)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.folder import build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
from service.backends.base import BackendError
from service.backends.torch_backend import TorchBackend


def encoded_pairs(model_dir: Path, n: int = 12) -> tuple[list[EncodedPair], int]:
    folder = inspect_model_folder(model_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer, 128)
    pairs = [
        formatter.encode(
            [{"role": "user", "content": f"question number {i} " * (1 + i % 4)}],
            "an answer that grows " * (1 + (i * 5) % 17),
        )
        for i in range(n)
    ]
    return pairs, tokenizer.pad_token_id


def backend_for(model_dir: Path, device: str = "cpu", dtype: str = "fp32") -> TorchBackend:
    folder = inspect_model_folder(model_dir)
    return TorchBackend(folder, load_tokenizer(folder).pad_token_id, device=device, dtype=dtype)  # type: ignore[arg-type]


@pytest.mark.parametrize("fixture", ["tiny_encoder_dir", "tiny_decoder_dir"])
def test_scores_do_not_depend_on_the_batch(fixture: str, request: pytest.FixtureRequest) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    pairs, _ = encoded_pairs(model_dir)
    assert len({p.num_tokens for p in pairs}) > 3  # a mixed-length batch, padded on the right
    backend = backend_for(model_dir)
    alone = np.array([backend.score([p])[0] for p in pairs])
    together = backend.score(pairs)
    assert together.dtype == np.float32 and together.shape == (len(pairs),)
    assert np.max(np.abs(alone - together)) <= 1e-5
    backend.close()


def test_bf16_on_cpu_stays_close_to_fp32_and_fp16_is_refused(tiny_decoder_dir: Path) -> None:
    pairs, _ = encoded_pairs(tiny_decoder_dir, 6)
    fp32 = backend_for(tiny_decoder_dir).score(pairs)
    bf16 = backend_for(tiny_decoder_dir, dtype="bf16").score(pairs)
    assert np.max(np.abs(fp32 - bf16)) <= 5e-2 + 5e-2 * np.max(np.abs(fp32))
    with pytest.raises(BackendError, match="fp16"):
        backend_for(tiny_decoder_dir, dtype="fp16")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.parametrize(("dtype", "tolerance"), [("fp32", 2e-3), ("fp16", 2e-2), ("bf16", 8e-2)])
def test_cuda_matches_cpu(tiny_encoder_dir: Path, dtype: str, tolerance: float) -> None:
    if not _cuda_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    pairs, _ = encoded_pairs(tiny_encoder_dir)
    cpu = backend_for(tiny_encoder_dir).score(pairs)
    gpu_backend = backend_for(tiny_encoder_dir, device="cuda", dtype=dtype)
    gpu = gpu_backend.score(pairs)
    assert np.max(np.abs(cpu - gpu)) <= tolerance + tolerance * np.max(np.abs(cpu))
    alone = np.array([gpu_backend.score([p])[0] for p in pairs])
    assert np.max(np.abs(alone - gpu)) <= tolerance
