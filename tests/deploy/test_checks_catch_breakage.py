"""The checks themselves: a broken copy of the chart must fail them, or a green run would prove nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import kubernetes_validate
import pytest
from helm_python import HelmError

from tests.deploy.chart import (
    BEHIND_GATEWAY,
    CHART_DIR,
    KUBE_VERSIONS,
    lint_chart,
    only,
    render_chart,
    validate_manifest,
)

GPU_HPA = {"autoscaling": {"enabled": True, "queueDepth": {"enabled": True}}, "gpu": {"enabled": True}}


def broken_chart(tmp_path: Path, template: str, old: str, new: str) -> Path:
    """A copy of the chart with one edit in one template."""
    chart = tmp_path / "rmserve"
    shutil.copytree(CHART_DIR, chart)
    path = chart / "templates" / template
    text = path.read_text()
    assert old in text, f"{old!r} is not in {template}"
    path.write_text(text.replace(old, new, 1))
    return chart


def test_a_template_syntax_error_fails_render_and_lint(tmp_path: Path) -> None:
    chart = broken_chart(tmp_path, "service.yaml", "{{ .Values.service.type }}", "{{ .Values.service.type ")
    with pytest.raises(HelmError):
        render_chart(BEHIND_GATEWAY, chart)
    assert lint_chart(BEHIND_GATEWAY, chart) != []


def test_a_template_that_emits_broken_yaml_fails_lint(tmp_path: Path) -> None:
    chart = broken_chart(tmp_path, "pdb.yaml", "  selector:\n", "selector:\n   x\n")
    assert lint_chart(BEHIND_GATEWAY, chart) != []


@pytest.mark.parametrize(
    ("template", "old", "new"),
    [
        # A string where Kubernetes wants an integer.
        (
            "deployment.yaml",
            "containerPort: {{ .Values.containerPort }}",
            "containerPort: {{ .Values.containerPort | quote }}",
        ),
        # A misspelt field, which the API server would drop without a word.
        ("deployment.yaml", "terminationGracePeriodSeconds:", "terminationGracePeriod:"),
        # A probe without a handler.
        (
            "deployment.yaml",
            "            httpGet:\n              path: {{ .Values.probes.liveness.path }}",
            "            httpGetx:\n              path: {{ .Values.probes.liveness.path }}",
        ),
        # A list where Kubernetes wants a port number or name.
        ("service.yaml", "targetPort: http", "targetPort: [http]"),
    ],
)
def test_an_invalid_manifest_fails_schema_validation(tmp_path: Path, template: str, old: str, new: str) -> None:
    chart = broken_chart(tmp_path, template, old, new)
    manifests = render_chart(BEHIND_GATEWAY, chart)
    kind = {"deployment.yaml": "Deployment", "service.yaml": "Service"}[template]
    for kube_version in KUBE_VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError):
            validate_manifest(only(manifests, kind), kube_version)


def test_a_removed_api_version_fails_schema_validation(tmp_path: Path) -> None:
    chart = broken_chart(tmp_path, "hpa.yaml", "apiVersion: autoscaling/v2", "apiVersion: autoscaling/v2beta2")
    hpa = only(render_chart(BEHIND_GATEWAY | GPU_HPA, chart), "HorizontalPodAutoscaler")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_manifest(hpa, KUBE_VERSIONS[-1])
