"""Model folders: what is refused (missing, pickle-only, no config, no reward head) and what a base may be."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.folder import ModelLoadError, inspect_model_folder, load_tokenizer
from tests.conftest import minilm_dir


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        inspect_model_folder(tmp_path / "absent")


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        inspect_model_folder(tmp_path)


def test_pickle_only_checkpoint_is_refused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    shutil.copy(tiny_encoder_dir / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelLoadError, match=r"only pickle weights \(pytorch_model\.bin\).*safetensors"):
        inspect_model_folder(tmp_path)


def test_encoder_and_decoder_kinds(tiny_encoder_dir: Path, tiny_decoder_dir: Path) -> None:
    assert inspect_model_folder(tiny_encoder_dir).kind == "encoder"
    assert inspect_model_folder(tiny_decoder_dir).kind == "decoder"


def test_bare_backbone_is_a_training_base_but_not_servable() -> None:
    from models.torch_model import has_reward_head, load_torch_reward_model

    folder = inspect_model_folder(minilm_dir())
    assert not has_reward_head(folder.config)
    pad_id = load_tokenizer(folder).pad_token_id
    with pytest.raises(ModelLoadError, match=r"no reward head.*rmserve train --base"):
        load_torch_reward_model(folder, pad_id)
    model = load_torch_reward_model(folder, pad_id, require_head=False)
    assert model.config.num_labels == 1


def test_reward_model_folder_loads(tiny_encoder_dir: Path) -> None:
    from models.torch_model import has_reward_head, load_torch_reward_model

    folder = inspect_model_folder(tiny_encoder_dir)
    assert has_reward_head(folder.config)
    model = load_torch_reward_model(folder, load_tokenizer(folder).pad_token_id)
    assert not model.training
