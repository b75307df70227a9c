"""Serving an ONNX folder (and calibrating or evaluating one) never imports torch, transformers or onnx
(none of them is in the [serve] extra).

How it is checked, without adding any hook to the product: the real `rmserve serve` runs in a child
process started through a small wrapper script (written by the test) that
1. installs a meta-path finder in front of every other one; any import of torch, transformers or onnx
   (or a submodule) is appended, with its stack, to a log file and then fails with ImportError, so a
   guarded `try: import torch` cannot hide the attempt either;
2. runs `service.cli` as `__main__` (runpy), exactly what the console script runs;
3. at interpreter exit writes the names in `sys.modules` to a file.
The test waits for /ready, scores over HTTP, asks /v1/models which backend served, stops the server with
SIGTERM (its graceful path, so the exit hook runs) and reads both files: no import attempt logged, none of
the blocked packages in `sys.modules`, and onnxruntime plus the ONNX backend present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from loadtest.server import REPO_ROOT, launch_server

BLOCKED = ("torch", "transformers", "onnx")

WRAPPER = textwrap.dedent(
    '''
    """Run a module or script with torch, transformers and onnx blocked and recorded; dump sys.modules at exit."""
    import atexit
    import importlib.abc
    import os
    import runpy
    import sys
    import traceback

    BLOCKED = {blocked!r}
    ATTEMPTS = os.environ["RMSERVE_TEST_IMPORT_ATTEMPTS"]
    MODULES = os.environ["RMSERVE_TEST_MODULES"]


    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                with open(ATTEMPTS, "a", encoding="utf-8") as log:
                    log.write(f"import {{name}}\\n{{''.join(traceback.format_stack(limit=12))}}\\n")
                raise ImportError(f"{{name}} is blocked: serving an ONNX model must not import it")
            return None


    def dump_modules():
        with open(MODULES, "w", encoding="utf-8") as out:
            out.write("\\n".join(sorted(sys.modules)))


    already = [m for m in sys.modules if m.partition(".")[0] in BLOCKED]
    assert not already, f"imported before the blocker was installed: {{already}}"
    sys.meta_path.insert(0, Blocker())
    atexit.register(dump_modules)
    target, sys.argv = sys.argv[1], sys.argv[1:]
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    '''
).format(blocked=BLOCKED)


def _environment(tmp_path: Path) -> tuple[dict[str, str], Path, Path, Path]:
    wrapper = tmp_path / "torch_free_rmserve.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    attempts, modules = tmp_path / "import-attempts.log", tmp_path / "modules.txt"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO_ROOT),
        "RMSERVE_LOG_LEVEL": "warning",
        "RMSERVE_TEST_IMPORT_ATTEMPTS": str(attempts),
        "RMSERVE_TEST_MODULES": str(modules),
    }
    return env, wrapper, attempts, modules


def _blocked_in(modules: list[str]) -> list[str]:
    return [name for name in modules if name.partition(".")[0] in BLOCKED]


def test_serving_modules_import_without_torch(tmp_path: Path) -> None:
    env, wrapper, attempts, modules = _environment(tmp_path)
    script = tmp_path / "import_serving.py"
    script.write_text(
        "import models.folder, models.formatting, models.selftest, models.tokenizer\n"
        "import service.app, service.backends.onnx_backend, service.model_loading, service.cli.serve\n"
        "import service.backend_choice, service.backends.openvino_backend, models.openvino_runtime\n",
        encoding="utf-8",
    )
    command = [sys.executable, str(wrapper), str(script)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not attempts.exists(), attempts.read_text()
    loaded = modules.read_text().split()
    assert "service.backends.onnx_backend" in loaded and "onnxruntime" in loaded and "openvino" in loaded
    assert _blocked_in(loaded) == []


def test_server_on_openvino_chooses_its_precision_at_start_up_and_never_imports_torch(
    default_onnx_dir: Path, tmp_path: Path
) -> None:
    env, wrapper, attempts, modules = _environment(tmp_path)
    env |= {"RMSERVE_BACKEND": "openvino", "RMSERVE_DTYPE": "auto", "RMSERVE_CHOICE_BUDGET_S": "0.5"}
    log_path = tmp_path / "server.log"
    server = launch_server(
        default_onnx_dir, env=env, log_path=log_path, python=(sys.executable, str(wrapper)), ready_timeout_s=180
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            items = [{"prompt": "Is ice cold?", "response": "Yes."}, {"prompt": "Hi", "response": "Hey"}]
            scored = http.post("/v1/score", json={"items": items})
            assert scored.status_code == 200, scored.text
            assert len(scored.json()["scores"]) == 2
            described = http.get("/v1/models").json()
    finally:
        returncode = server.stop()
    assert not attempts.exists(), f"the server tried to import a blocked package:\n{attempts.read_text()}"
    assert returncode == 0, log_path.read_text(errors="replace")[-3000:]
    choice = described["choice"]
    assert described["backend"] == choice["backend"] == "openvino" and choice["mode"] == "auto"
    assert described["dtype"] == choice["dtype"] and choice["reason"]
    assert "openvino fp32" in choice["candidates"] and choice["cpu"]["model_name"]
    if len(choice["candidates"]) > 1:  # a CPU with bf16 units: bf16 was judged (at export or at start-up)
        assert any(label.startswith("openvino bf16") for label in choice["fidelity"]), choice
    loaded = modules.read_text().split()
    assert _blocked_in(loaded) == [] and "openvino" in loaded
    assert "service.backends.torch_backend" not in loaded and "onnxruntime" not in loaded


def test_server_on_an_onnx_folder_never_imports_torch(encoder_onnx_dir: Path, tmp_path: Path) -> None:
    env, wrapper, attempts, modules = _environment(tmp_path)
    log_path = tmp_path / "server.log"
    server = launch_server(
        encoder_onnx_dir, env=env, log_path=log_path, python=(sys.executable, str(wrapper)), ready_timeout_s=180
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            scored = http.post(
                "/v1/score",
                json={"items": [{"prompt": "Is ice cold?", "response": "Yes."}, {"prompt": "Hi", "response": "Hey"}]},
            )
            assert scored.status_code == 200, scored.text
            assert len(scored.json()["scores"]) == 2
            described = http.get("/v1/models").text
            assert '"onnx"' in described, described
    finally:
        returncode = server.stop()
    assert not attempts.exists(), f"the server tried to import a blocked package:\n{attempts.read_text()}"
    assert returncode == 0, log_path.read_text(errors="replace")[-3000:]
    assert modules.is_file(), "the server did not exit through its graceful path (no sys.modules dump)"
    loaded = modules.read_text().split()
    assert _blocked_in(loaded) == []
    assert "onnxruntime" in loaded and "service.backends.onnx_backend" in loaded
    assert "service.backends.torch_backend" not in loaded


def test_calibrating_an_onnx_folder_never_imports_torch(encoder_onnx_dir: Path, tmp_path: Path) -> None:
    from tests.service.test_calibrate import write_labelled_pairs

    pairs = write_labelled_pairs(encoder_onnx_dir, tmp_path / "pairs.jsonl", n=40, wrong=10)
    env, wrapper, attempts, modules = _environment(tmp_path)
    model = ["--model", str(encoder_onnx_dir), "--data", str(pairs.path), "--dry-run", "--json"]
    command = [sys.executable, str(wrapper), "service.cli", "calibrate", *model]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert not attempts.exists(), f"calibrate tried to import a blocked package:\n{attempts.read_text()}"
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["backend"] == "onnx"
    loaded = modules.read_text().split()
    assert _blocked_in(loaded) == [] and "onnxruntime" in loaded


def test_evaluating_an_onnx_folder_never_imports_torch(encoder_onnx_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"question {i}", "chosen": "a helpful answer", "rejected": "no"} for i in range(4)]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    env, wrapper, attempts, modules = _environment(tmp_path)
    command = [sys.executable, str(wrapper), "service.cli", "eval", "--model", str(encoder_onnx_dir)]
    done = subprocess.run(
        [*command, "--data", str(pairs), "--json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert not attempts.exists(), f"eval tried to import a blocked package:\n{attempts.read_text()}"
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["backend"] == "onnx" and report["n"] == 4
    assert _blocked_in(modules.read_text().split()) == []
