"""User mistakes reach the terminal as one `rmserve: error: ...` line and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli.main import main
from tests.conftest import REPO_ROOT, minilm_dir


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n", encoding="utf-8")
    return path


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rmserve: error: "), err
    return lines[0]


def test_missing_model_folder(tmp_path: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(capsys, ["eval", "--model", str(tmp_path / "nope"), "--data", str(pairs_file)])
    assert "does not exist" in line


def test_pickle_only_checkpoint(
    tiny_encoder_dir: Path, tmp_path: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "bin-only"
    model.mkdir()
    shutil.copy(tiny_encoder_dir / "config.json", model / "config.json")
    (model / "pytorch_model.bin").write_bytes(b"never unpickled")
    line = one_error_line(capsys, ["eval", "--model", str(model), "--data", str(pairs_file)])
    assert "pickle" in line and "safetensors" in line


def test_folder_without_config(tmp_path: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    line = one_error_line(capsys, ["eval", "--model", str(tmp_path), "--data", str(pairs_file)])
    assert "config.json" in line


def test_bare_backbone_refused_for_eval(pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(capsys, ["eval", "--model", str(minilm_dir()), "--data", str(pairs_file)])
    assert "no reward head" in line


def test_malformed_data_names_the_line(
    tiny_encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n{oops\n", encoding="utf-8")
    line = one_error_line(capsys, ["eval", "--model", str(tiny_encoder_dir), "--data", str(data)])
    assert f"{data}:2: not valid JSON" in line
    line = one_error_line(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "out")])
    assert f"{data}:2" in line


def test_bad_row_range(tiny_encoder_dir: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eval", "--model", str(tiny_encoder_dir), "--data", str(pairs_file), "--rows", "12"])
    assert info.value.code == 2
    assert "A:B" in capsys.readouterr().err


def test_console_script_prints_one_line_for_a_pickle_checkpoint(tmp_path: Path, pairs_file: Path) -> None:
    """The real entry point, in its own process: what a user sees."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"never unpickled")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "eval", "--model", str(tmp_path), "--data", str(pairs_file), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("rmserve: error: "), proc.stderr
    assert "pytorch_model.bin" in proc.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--rows", "5:"], "no preference rows in rows 5:"),
    ],
)
def test_calibrate_option_mistakes(
    tiny_encoder_dir: Path,
    pairs_file: Path,
    extra: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_error_line(capsys, ["calibrate", "--model", str(tiny_encoder_dir), "--data", str(pairs_file), *extra])
    assert expected in line


def test_calibrate_refuses_too_few_pairs(
    tiny_encoder_dir: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(capsys, ["calibrate", "--model", str(tiny_encoder_dir), "--data", str(pairs_file)])
    assert "at least 30 pairs, got 1" in line


def test_calibrate_on_a_missing_folder_or_a_malformed_card(
    tiny_encoder_dir: Path, tmp_path: Path, pairs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(capsys, ["calibrate", "--model", str(tmp_path / "nope"), "--data", str(pairs_file)])
    assert "does not exist" in line
    model = tmp_path / "rm"
    shutil.copytree(tiny_encoder_dir, model)
    (model / "rmserve_card.json").write_text('{"name": "rm", "calibration": {"temperature": -1}}')
    line = one_error_line(capsys, ["calibrate", "--model", str(model), "--data", str(pairs_file)])
    assert "malformed model card" in line
