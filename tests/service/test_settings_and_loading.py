"""Settings, the serve command's flags, backend choice, model loading refusals and the cost model."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.folder import ModelLoadError, inspect_model_folder
from models.formatting import EncodedPair
from service.cli.serve import add_arguments, build_settings
from service.cost_model import CostModel, profile_backend, profile_grid
from service.model_loading import backend_name_for, load_model
from service.settings import Settings
from tests.conftest import minilm_dir


def test_settings_come_from_the_environment_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMSERVE_MAX_BATCH_SIZE", "1")
    monkeypatch.setenv("RMSERVE_API_KEYS", "a, b,,")
    monkeypatch.setenv("RMSERVE_DTYPE", "BF16")
    settings = Settings()
    assert settings.max_batch_size == 1
    assert settings.api_key_list == ["a", "b"]
    assert settings.dtype == "bf16"
    with pytest.raises(ValidationError):
        Settings(device="tpu")
    assert Settings(request_timeout_s=5, max_request_timeout_s=60).effective_timeout_s(600) == 60


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMSERVE_MAX_BATCH_SIZE", "1")
    monkeypatch.setenv("RMSERVE_PORT", "9000")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    settings = build_settings(parser.parse_args(["--max-batch-size", "32", "--behind-gateway", "--device", "cuda:1"]))
    assert (settings.max_batch_size, settings.port, settings.behind_gateway, settings.device) == (
        32,
        9000,
        True,
        "cuda:1",
    )
    with pytest.raises(Exception, match="invalid settings"):
        build_settings(parser.parse_args(["--max-batch-size", "zero"]))


def test_auto_backend_picks_onnx_when_the_folder_has_model_onnx(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    assert backend_name_for(Settings(), inspect_model_folder(tiny_encoder_dir)) == "torch"
    with_onnx = tmp_path / "with-onnx"
    with_onnx.mkdir()
    shutil.copy(tiny_encoder_dir / "config.json", with_onnx / "config.json")
    (with_onnx / "model.onnx").write_bytes(b"stand-in: only the file's presence is inspected")
    folder = inspect_model_folder(with_onnx)
    assert backend_name_for(Settings(), folder) == "onnx"
    assert backend_name_for(Settings(backend="torch"), folder) == "torch"


def test_serving_refuses_a_bare_backbone_and_pickles(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no reward head"):
        load_model(Settings(model=minilm_dir(), backend="torch"))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80")
    with pytest.raises(ModelLoadError, match="pickle"):
        load_model(Settings(model=pickled))


def test_cost_model_interpolates_and_learns() -> None:
    model = CostModel({(1, 32): 1.0, (4, 32): 2.0, (1, 128): 3.0, (4, 128): 6.0})
    assert model.predict_s(2, 32) == pytest.approx(1 + 1 / 3)
    assert model.predict_s(4, 80) == pytest.approx(4.0)
    assert model.predict_s(8, 32) == pytest.approx(4.0)  # per-row cost held beyond the grid
    assert model.predict_s(1, 256) == pytest.approx(6.0)  # in proportion to length beyond the grid
    for _ in range(50):
        model.observe(4, 32, 4.0)  # the machine got slower
    assert model.predict_s(4, 32) == pytest.approx(4.0, rel=0.05)
    assert model.predict_s(1, 128) == 3.0  # cells far from the observations are untouched
    model.observe(30, 500, 100.0)  # far outside the grid: learned as a new power-of-two cell
    assert (32, 512) in model.table
    assert model.predict_s(32, 512) == pytest.approx(100.0 * 32 * 512 / (30 * 500), rel=0.2)


def test_profiling_times_each_shape_within_budget() -> None:
    shapes = profile_grid(max_rows=8, max_length=128, max_tokens=256)
    assert (1, 128) in shapes and (8, 32) in shapes and (4, 128) not in shapes
    calls: list[int] = []
    ticks = iter(range(10_000))

    def score(batch: Sequence[EncodedPair]) -> None:
        calls.append(len(batch))

    model = profile_backend(score, EncodedPair((1, 2, 3), None, False), shapes, budget_s=1e9, clock=lambda: next(ticks))
    assert set(model.table) == set(shapes)
    calls.clear()
    unmeasured = profile_backend(score, EncodedPair((1,), None, False), shapes, budget_s=0)
    assert calls == [] and unmeasured.table.keys() == CostModel.assumed().table.keys()


def test_without_a_model_the_embedded_default_is_served_and_self_tested(default_model_dir: Path) -> None:
    from service.app import _self_test

    model = load_model(Settings(backend="torch"))
    assert model.folder.path == default_model_dir
    assert model.folder.card is not None
    _self_test(model)  # the card's reference pairs reproduce through the serving path
    model.backend.close()


def test_the_service_imports_without_torch() -> None:
    """The ONNX serving path must not pay for (or need) torch: only the torch backend imports it."""
    import subprocess
    import sys

    code = "import sys, service.app, service.cli.serve; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
