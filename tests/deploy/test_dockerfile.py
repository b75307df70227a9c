"""The Dockerfile: hadolint, the runtime contract the chart relies on, and the same installs as CI."""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.deploy.chart import BEHIND_GATEWAY, REPO_ROOT, chart_defaults, render_chart, server_container
from tests.deploy.dockerfile import Dockerfile, env_of, hadolint, parse_dockerfile, pip_install_requirements

DOCKERFILE = REPO_ROOT / "Dockerfile"
PROJECT = "rmserve"
RUNTIME_STAGES = ("runtime-cpu", "runtime-cuda")
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cmake", "cargo", "rustc")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def extras_of(pyproject: dict[str, object]) -> dict[str, list[Requirement]]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    return {name: [Requirement(r) for r in reqs] for name, reqs in project["optional-dependencies"].items()}


def closure(pyproject: dict[str, object], extras: set[str]) -> dict[str, Requirement]:
    """Every requirement that `pip install .[extras]` brings in directly, by normalized name (self-references
    such as rmserve[serve] followed)."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    table = extras_of(pyproject)
    found = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in table[extra]:
            if requirement.name == PROJECT:
                pending += list(requirement.extras)
            else:
                found[requirement.name.lower()] = requirement
    return found


def project_extras(requirement: str) -> set[str]:
    """'.[serve]' -> {'serve'}; fails on anything that is not the project itself."""
    match = re.fullmatch(r"\.\[([\w,-]+)\]", requirement)
    assert match, f"not an install of the project with extras: {requirement}"
    return set(match.group(1).split(","))


def pin_of(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    return specs[0].version if len(specs) == 1 and specs[0].operator == "==" else None


def makefile_extras() -> list[set[str]]:
    """The project extras of each `pip install ".[...]"` in the Makefile (what `make serve`/`make test` install)."""
    text = (REPO_ROOT / "Makefile").read_text()
    return [set(extras.split(",")) for extras in re.findall(r'pip install [^"\n]*"\.\[([\w,-]+)\]"', text)]


# ---- hadolint


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD python -m http.server\n")
    result = hadolint(bad)
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3007", "DL3008", "DL3015", "DL3025"} <= codes


# ---- the image the chart runs


def test_final_stage_is_what_the_chart_expects(dockerfile: Dockerfile) -> None:
    defaults = chart_defaults()
    final = dockerfile.stage("runtime")
    env = env_of(dockerfile.chain("runtime"))
    assert env["RMSERVE_MODEL"] == defaults["model"]["mountPath"]
    assert env["RMSERVE_PORT"] == str(defaults["containerPort"])
    assert env["RMSERVE_HOST"] == "0.0.0.0"
    assert [i.arguments for i in final.all("EXPOSE")] == [str(defaults["containerPort"])]
    (user,) = final.all("USER")
    assert user.arguments.isdigit() and int(user.arguments) != 0
    assert int(user.arguments) == defaults["podSecurityContext"]["runAsUser"]
    (healthcheck,) = final.all("HEALTHCHECK")
    assert "/health" in healthcheck.arguments
    (entrypoint,) = final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    assert json.loads(entrypoint.arguments) == ["rmserve"]
    container = server_container(render_chart(BEHIND_GATEWAY))
    assert "command" not in container  # the chart keeps the image's ENTRYPOINT
    assert json.loads(cmd.arguments) == container["args"] == ["serve"]
    # The baked-in model is copied to the path the server reads.
    (model_copy,) = [i for i in final.all("COPY") if "--from=model-onnx" in i.arguments]
    assert model_copy.arguments.split()[-1] == defaults["model"]["mountPath"]


@pytest.mark.parametrize("runtime", RUNTIME_STAGES)
def test_runtime_images_have_no_torch_and_no_compilers(
    dockerfile: Dockerfile, pyproject: dict[str, object], runtime: str
) -> None:
    chain = [dockerfile.stage("runtime"), *dockerfile.chain(runtime)]
    for stage in chain:
        for run in stage.all("RUN"):
            assert "pip install" not in run.arguments, f"{stage.name} installs Python packages in the final image"
            words = set(re.split(r"[\s=]+", run.arguments))
            assert not words & set(COMPILERS), f"{stage.name} installs a compiler: {run.arguments}"
        for copy in stage.all("COPY"):
            source = re.search(r"--from=(\S+)", copy.arguments)
            if source:
                assert source.group(1) in {"venv-cpu", "venv-cuda", "model-onnx"}, copy.arguments
    venv_stage = dockerfile.stage(runtime.replace("runtime", "venv"))
    (install,) = venv_stage.all("RUN")[-1:]
    extras = project_extras(pip_install_requirements(install)[0])
    assert "torch" not in closure(pyproject, extras)
    if runtime == "runtime-cpu":  # the CPU image serves model.onnx on onnxruntime or OpenVINO (bf16)
        assert {"onnxruntime", "openvino"} <= set(closure(pyproject, extras))


def test_every_pip_install_uses_pyproject_extras_and_pins(dockerfile: Dockerfile, pyproject: dict[str, object]) -> None:
    declared = extras_of(pyproject)
    pins = {(r.name.lower(), pin_of(r)) for reqs in declared.values() for r in reqs if pin_of(r)}
    installs = 0
    for stage in dockerfile.stages.values():
        for run in stage.all("RUN"):
            for requirement in pip_install_requirements(run):
                installs += 1
                requirement = dockerfile.expand(requirement)
                if requirement.startswith("."):
                    assert project_extras(requirement) <= set(declared), requirement
                else:
                    parsed = Requirement(requirement)
                    assert (parsed.name.lower(), pin_of(parsed)) in pins, f"{requirement} is not a pyproject pin"
    assert installs >= 3


def test_image_stages_install_what_ci_and_the_makefile_install(
    dockerfile: Dockerfile, pyproject: dict[str, object]
) -> None:
    def stage_extras(name: str) -> set[str]:
        requirements = [r for run in dockerfile.stage(name).all("RUN") for r in pip_install_requirements(run)]
        return project_extras(requirements[0])

    make_installs = makefile_extras()
    # The export stage installs what `make serve` installs (torch, CPU build), which builds the same model.
    assert stage_extras("export-tools") in make_installs, f"the Makefile installs {make_installs}"
    export_env = env_of([dockerfile.stage("export-tools")])
    assert export_env["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    # CI (`make test`) installs [dev]: everything the CPU image runs with is tested there, at the same pins.
    (ci_extras,) = [extras for extras in make_installs if "dev" in extras]
    ci = closure(pyproject, ci_extras)
    shipped = closure(pyproject, stage_extras("venv-cpu") | stage_extras("export-tools"))
    assert set(shipped) <= set(ci)
    for name, requirement in shipped.items():
        assert str(requirement.specifier) == str(ci[name].specifier), name
        pin = pin_of(requirement)
        if pin is not None:
            installed = Version(metadata.version(name)).base_version
            assert installed == Version(pin).base_version, f"CI ran with {name} {installed}, the image pins {pin}"


def test_gpu_image_pins_onnxruntime_gpu_like_pyproject(dockerfile: Dockerfile, pyproject: dict[str, object]) -> None:
    (gpu_pin,) = [pin_of(r) for r in extras_of(pyproject)["gpu"] if r.name == "onnxruntime-gpu"]
    assert dockerfile.global_args["ONNXRUNTIME_GPU_VERSION"] == gpu_pin


def test_image_python_is_the_ci_python(dockerfile: Dockerfile, pyproject: dict[str, object]) -> None:
    version = dockerfile.global_args["PYTHON_VERSION"]
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}"
    project = pyproject["project"]
    assert isinstance(project, dict)
    assert Version(version) in SpecifierSet(project["requires-python"])
    assert dockerfile.stage("base-cpu").base == "python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}"


# ---- the build context


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative, '/'-separated) out of the build context; the last
    matching pattern wins, and a pattern that matches a folder covers everything inside it."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(
            fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern.removeprefix("**/")) for c in candidates
        ):
            excluded = not negated
    return excluded


def test_build_context_holds_exactly_what_the_image_copies(dockerfile: Dockerfile) -> None:
    sources = set()
    for stage in dockerfile.stages.values():
        for copy in stage.all("COPY"):
            if "--from=" in copy.arguments:
                continue
            words = [w for w in copy.arguments.split() if not w.startswith("--")]
            sources.update(w.rstrip("/") for w in words[:-1])
    assert {"pyproject.toml", "rmserve", "service", "models"} <= sources
    for source in sorted(sources):
        assert (REPO_ROOT / source).exists(), f"the Dockerfile copies {source}, which the repository lacks"
        assert not dockerignore_excludes(source), f".dockerignore keeps {source} out of the build context"
        assert not dockerignore_excludes(f"{source}/x.py") or (REPO_ROOT / source).is_file()
    for private in (".venv/bin/python", ".git/config", "tests/conftest.py", "helm/rmserve/Chart.yaml", "runs/x"):
        assert dockerignore_excludes(private), f"{private} would be sent to the Docker daemon"
    assert dockerignore_excludes("service/__pycache__/app.cpython-311.pyc")


# ---- the deployment guide


def test_deployment_guide_names_real_build_args_and_values(dockerfile: Dockerfile) -> None:
    guide = (REPO_ROOT / "docs" / "deployment.md").read_text()
    build_args = set(re.findall(r"--build-arg\s+(\w+)=", guide))
    assert build_args, "the guide shows no build argument"
    assert build_args <= set(dockerfile.global_args)
    schema = json.loads((REPO_ROOT / "helm" / "rmserve" / "values.schema.json").read_text())
    set_keys = set(re.findall(r"--set(?:-string)?\s+([\w.]+)=", guide))
    assert set_keys, "the guide shows no --set"
    for key in sorted(set_keys):
        node: dict[str, object] = schema
        for part in key.split("."):
            properties = node.get("properties", {})
            assert isinstance(properties, dict) and part in properties, f"--set {key}: no such value"
            node = properties[part]
