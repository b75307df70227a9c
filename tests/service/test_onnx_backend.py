"""The onnxruntime backend: batch invariance, thread safety, providers, failures, and the automatic choice
of backend by `service.model_loading`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.folder import ModelLoadError, build_formatter, inspect_model_folder, load_tokenizer
from models.formatting import EncodedPair
from service.backends.base import Backend, BackendError
from service.backends.onnx_backend import OnnxBackend, resolve_providers

TEXTS = [
    ("What's the boiling point of water?", "100 °C at sea level."),
    ("What's the boiling point of water?", "It depends on many things, hard to say really, maybe hot."),
    ("Name a prime.", "7"),
    ("Write two sentences about owls.", "Owls hunt at night. Their feathers make their flight almost silent."),
    ("Translate 'cat' to French.", "chat"),
    ("Tell me about Rome.", "Rome is the capital of Italy and was the centre of the Roman Empire. " * 6),
]


@pytest.fixture(scope="module")
def encoded(encoder_onnx_dir: Path) -> list[EncodedPair]:
    folder = inspect_model_folder(encoder_onnx_dir)
    formatter = build_formatter(folder, load_tokenizer(folder))
    return [formatter.encode(prompt, response) for prompt, response in TEXTS]


@pytest.fixture(scope="module")
def backend(encoder_onnx_dir: Path) -> OnnxBackend:
    folder = inspect_model_folder(encoder_onnx_dir)
    return OnnxBackend(folder, load_tokenizer(folder).pad_token_id, threads_per_worker=1)


def test_backend_protocol_and_description(backend: OnnxBackend) -> None:
    assert isinstance(backend, Backend)
    assert (backend.name, backend.device, backend.dtype) == ("onnx", "cpu", "fp32")
    assert backend.active_providers == ["CPUExecutionProvider"]


def test_score_alone_equals_score_in_a_mixed_batch(backend: OnnxBackend, encoded: list[EncodedPair]) -> None:
    """fp32 onnxruntime with right padding is exactly batch invariant (measured 0.0); 1e-6 leaves room
    for a kernel library that blocks rows differently."""
    assert len({item.num_tokens for item in encoded}) == len(encoded)
    alone = np.concatenate([backend.score([item]) for item in encoded])
    assert np.abs(backend.score(encoded) - alone).max() <= 1e-6
    assert np.abs(backend.score(encoded[::-1])[::-1] - alone).max() <= 1e-6
    assert np.ptp(alone) > 1e-3


def test_concurrent_score_calls_give_the_serial_results(backend: OnnxBackend, encoded: list[EncodedPair]) -> None:
    batches = [encoded[i : i + 1 + i % 3] for i in range(len(encoded))] * 4
    serial = [backend.score(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(backend.score, batches))
    for expected, got in zip(serial, concurrent, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_failing_forward_pass_raises_a_safe_backend_error(backend: OnnxBackend) -> None:
    out_of_vocabulary = EncodedPair(input_ids=(101, 10**7, 102), token_type_ids=(0, 0, 0), truncated=False)
    with pytest.raises(BackendError, match=r"onnxruntime forward pass failed \(\w+\)"):
        backend.score([out_of_vocabulary])
    assert backend.score([]).shape == (0,)


def test_decoder_export_serves(decoder_onnx_dir: Path) -> None:
    folder = inspect_model_folder(decoder_onnx_dir)
    tokenizer = load_tokenizer(folder)
    formatter = build_formatter(folder, tokenizer)
    backend = OnnxBackend(folder, tokenizer.pad_token_id)
    items = [formatter.encode(prompt, response) for prompt, response in TEXTS]
    alone = np.concatenate([backend.score([item]) for item in items])
    assert np.abs(backend.score(items) - alone).max() <= 1e-6


def test_provider_resolution() -> None:
    assert resolve_providers("cpu", None) == ["CPUExecutionProvider"]
    assert resolve_providers("cpu", ["CPU"]) == ["CPUExecutionProvider"]
    with pytest.raises(ModelLoadError, match="unknown onnxruntime provider"):
        resolve_providers("cpu", ["warp-drive"])
    with pytest.raises(ModelLoadError, match="needs a GPU provider"):
        resolve_providers("cuda:0", ["cpu"])
    if "CUDAExecutionProvider" in ort.get_available_providers():
        with pytest.raises(ModelLoadError, match="need --device cuda"):
            resolve_providers("cpu", ["cuda"])
    else:
        with pytest.raises(ModelLoadError, match=r"not available here \(install the rmserve\[gpu\] extra"):
            resolve_providers("cuda", None)


def test_a_folder_without_model_onnx_is_refused(tiny_encoder_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"has no model\.onnx"):
        OnnxBackend(inspect_model_folder(tiny_encoder_dir), 0)


def test_auto_backend_picks_onnx_for_an_exported_folder(encoder_onnx_dir: Path, tiny_encoder_dir: Path) -> None:
    from service.model_loading import backend_name_for, load_model
    from service.settings import Settings

    loaded = load_model(Settings(model=encoder_onnx_dir, threads_per_worker=1))
    assert isinstance(loaded.backend, OnnxBackend)
    assert loaded.weights_digest == loaded.folder.weights_digest(prefer_onnx=True)
    assert backend_name_for(Settings(model=tiny_encoder_dir), inspect_model_folder(tiny_encoder_dir)) == "torch"


@pytest.mark.gpu
def test_cuda_provider_matches_cpu(encoder_onnx_dir: Path, encoded: list[EncodedPair], backend: OnnxBackend) -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("no CUDAExecutionProvider in this onnxruntime build (needs onnxruntime-gpu and a GPU)")
    folder = inspect_model_folder(encoder_onnx_dir)
    gpu = OnnxBackend(folder, load_tokenizer(folder).pad_token_id, device="cuda")
    assert gpu.active_providers[0] == "CUDAExecutionProvider"
    np.testing.assert_allclose(gpu.score(encoded), backend.score(encoded), atol=2e-3)
