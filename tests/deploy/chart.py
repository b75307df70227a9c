"""The Helm chart as the tests see it: rendered by the real Helm engine, checked against Kubernetes schemas.

`helm_python` (PyPI `helm-python-sdk`) binds Helm's Go SDK through a shared library, so rendering and
linting run the same code as `helm template` and `helm lint`, offline, without a helm binary or a cluster.
`kubernetes_validate` carries the Kubernetes OpenAPI schemas per minor version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "rmserve"
RELEASE_NAME = "rm"
NAMESPACE = "ml"

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest the schemas know.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

# Kinds served by CRDs, which kubernetes-validate has no schema for; tests check them field by field.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

Manifest = dict[str, Any]


def render_chart(values: dict[str, Any], chart_dir: Path = CHART_DIR) -> list[Manifest]:
    """Render the chart like `helm template` (values checked against values.schema.json first).

    Returns every non-empty YAML document of every template, in template-path order.
    Raises helm_python.HelmValuesError for values the schema rejects and HelmRenderError for a template
    that fails (a syntax error, or a `fail` call on values that break an invariant).
    """
    with helm.Chart.load(str(chart_dir)) as chart:
        rendered = chart.render(values, name=RELEASE_NAME, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in yaml.safe_load_all(rendered[path]):
            if document:
                manifests.append(document)
    return manifests


def lint_chart(values: dict[str, Any], chart_dir: Path = CHART_DIR) -> list[str]:
    """`helm lint --strict` on the chart with these values; returns the warnings and errors (empty: clean).

    Lint renders in Helm's lint mode, where a template's `fail` is only logged (to stderr): the chart's
    invariants are checked by `render_chart`, which does fail.
    """
    report = helm.lint(str(chart_dir), values, strict=True, namespace=NAMESPACE)
    findings = [f"{m['path']}: {m['error'].strip()}" for m in report["messages"] if m["severity"] >= 2]
    return findings + [e.strip() for e in report["errors"] if not any(e.strip() in f for f in findings)]


def validate_manifest(manifest: Manifest, kube_version: str) -> None:
    """Validate one manifest against the Kubernetes schema of `kube_version`, strictly (unknown fields fail).

    Raises kubernetes_validate.ValidationError on an invalid manifest and SchemaNotFoundError for a kind
    that version does not serve (a removed API version, or a CRD kind).
    """
    kubernetes_validate.validate(manifest, kube_version, strict=True)


def only(manifests: list[Manifest], kind: str) -> Manifest:
    """The single manifest of `kind`; fails the test if there is none or more than one."""
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(manifests: list[Manifest]) -> set[str]:
    return {m["kind"] for m in manifests}


def server_container(manifests: list[Manifest]) -> dict[str, Any]:
    containers = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "rmserve")


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """Environment variables by name: the literal value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` deep-merged over `base`, as Helm merges a values file over another (neither is changed)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# The smallest values that install: the server needs API keys or an authenticating gateway in front.
BEHIND_GATEWAY: dict[str, Any] = {"settings": {"behind_gateway": True}}


def chart_defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    return loaded
