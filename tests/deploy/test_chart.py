"""The Helm chart: `helm lint`, the Kubernetes schemas, and the wiring between its objects, per value set."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from tests.deploy.chart import (
    CHART_DIR,
    CRD_KINDS,
    KUBE_VERSIONS,
    Manifest,
    chart_defaults,
    env_of,
    kinds,
    lint_chart,
    only,
    render_chart,
    server_container,
    validate_manifest,
)
from tests.deploy.value_sets import VALUE_SETS

SET_NAMES = sorted(VALUE_SETS)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: render_chart(values) for name, values in VALUE_SETS.items()}


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_helm_lint_is_clean(set_name: str) -> None:
    assert lint_chart(VALUE_SETS[set_name]) == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("set_name", SET_NAMES)
def test_every_manifest_matches_the_kubernetes_schema(
    rendered: dict[str, list[Manifest]], set_name: str, kube_version: str
) -> None:
    for manifest in rendered[set_name]:
        if (manifest["apiVersion"], manifest["kind"]) in CRD_KINDS:
            continue
        validate_manifest(manifest, kube_version)


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_objects_are_wired_together(rendered: dict[str, list[Manifest]], set_name: str) -> None:
    manifests = rendered[set_name]
    deployment = only(manifests, "Deployment")
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    service = only(manifests, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"]: p["containerPort"] for p in server_container(manifests)["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in container_ports

    env = env_of(server_container(manifests))
    assert str(container_ports["http"]) == env["RMSERVE_PORT"]
    assert env["RMSERVE_HOST"] == "0.0.0.0"

    if "PodDisruptionBudget" in kinds(manifests):
        pdb = only(manifests, "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    if "HorizontalPodAutoscaler" in kinds(manifests):
        hpa = only(manifests, "HorizontalPodAutoscaler")
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
        # Two owners of the replica count would fight: with an HPA the Deployment leaves it unset.
        assert "replicas" not in deployment["spec"]
    else:
        assert deployment["spec"]["replicas"] == VALUE_SETS[set_name].get(
            "replicaCount", chart_defaults()["replicaCount"]
        )

    account = pod["spec"]["serviceAccountName"]
    if "ServiceAccount" in kinds(manifests):
        assert only(manifests, "ServiceAccount")["metadata"]["name"] == account


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_pods_run_locked_down(rendered: dict[str, list[Manifest]], set_name: str) -> None:
    pod_spec = only(rendered[set_name], "Deployment")["spec"]["template"]["spec"]
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["runAsUser"] != 0
    assert pod_spec["automountServiceAccountToken"] is False
    for container in pod_spec["containers"] + pod_spec.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
    # A read-only root filesystem needs a writable /tmp for the server's scratch files.
    mounts = {m["mountPath"]: m["name"] for m in server_container(rendered[set_name])["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_probes_hit_the_service_endpoints(rendered: dict[str, list[Manifest]], set_name: str) -> None:
    container = server_container(rendered[set_name])
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_settings_become_rmserve_environment_variables(rendered: dict[str, list[Manifest]]) -> None:
    env = env_of(server_container(rendered["cpu-autoscaling"]))
    assert env["RMSERVE_MAX_BATCH_SIZE"] == "64"
    assert env["RMSERVE_MAX_WAIT_MS"] == "2.5"
    # Large whole numbers stay plain integers (YAML numbers reach the template as floats).
    assert env["RMSERVE_MAX_BODY_BYTES"] == "10000000"
    assert "RMSERVE_BACKEND" not in env  # the image's onnx default stands
    assert env["RMSERVE_MODEL"] == chart_defaults()["model"]["mountPath"]
    assert env["RMSERVE_SHUTDOWN_GRACE_S"] == str(chart_defaults()["drain"]["shutdownGraceSeconds"])
    assert "RMSERVE_API_KEYS" not in env

    gpu_env = env_of(server_container(rendered["gpu-queue-depth"]))
    # List settings are comma-separated strings on the server side (Settings.onnx_provider_list).
    assert gpu_env["RMSERVE_ONNX_PROVIDERS"] == "CUDAExecutionProvider,CPUExecutionProvider"
    assert gpu_env["RMSERVE_BEHIND_GATEWAY"] == "false"
    assert env["RMSERVE_BEHIND_GATEWAY"] == "true"
    assert gpu_env["RMSERVE_DTYPE"] == "fp16"
    # A map setting is JSON, which pydantic-settings parses into the dict field (Settings.route_lanes).
    assert json.loads(gpu_env["RMSERVE_ROUTE_LANES"]) == {
        "/v1/gate": "interactive",
        "/v1/score": "bulk",
        "/classify": "bulk",
    }
    assert gpu_env["RMSERVE_BULK_MAX_PASS_OVER_MS"] == "250"
    # Every variable is set once: the chart-managed names cannot also come from settings.
    names = [e["name"] for e in server_container(rendered["gpu-queue-depth"])["env"]]
    assert len(names) == len(set(names))


def test_api_keys_come_from_the_secret_not_from_values(rendered: dict[str, list[Manifest]]) -> None:
    env = env_of(server_container(rendered["gpu-queue-depth"]))
    assert env["RMSERVE_API_KEYS"] == {"secretKeyRef": {"name": "rmserve-api-keys", "key": "api-keys"}}
    assert "Secret" not in kinds(rendered["gpu-queue-depth"])


def test_gpu_pods_ask_for_a_gpu_and_land_on_gpu_nodes(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["gpu-queue-depth"]
    container = server_container(manifests)
    pod_spec = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["limits"]["memory"] == "16Gi"
    assert env_of(container)["RMSERVE_DEVICE"] == "cuda"
    assert container["image"].endswith(":0.1.0-cuda")
    assert pod_spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]

    cpu_container = server_container(rendered["defaults"])
    assert "nvidia.com/gpu" not in cpu_container["resources"].get("limits", {})
    assert "RMSERVE_DEVICE" not in env_of(cpu_container)
    assert cpu_container["image"] == "rmserve:0.1.0"


def test_hpa_scales_on_cpu_and_on_queue_depth(rendered: dict[str, list[Manifest]]) -> None:
    metrics = only(rendered["gpu-queue-depth"], "HorizontalPodAutoscaler")["spec"]["metrics"]
    by_type = {m["type"]: m for m in metrics}
    assert by_type["Resource"]["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 80},
    }
    assert by_type["Pods"]["pods"] == {
        "metric": {"name": chart_defaults()["autoscaling"]["queueDepth"]["metricName"]},
        "target": {"type": "AverageValue", "averageValue": "32"},
    }
    queue_only = only(rendered["queue-depth-only"], "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert [m["type"] for m in queue_only] == ["Pods"]


def test_service_monitor_scrapes_the_service_metrics_port(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["gpu-queue-depth"]
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ml"]}
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    assert monitor["spec"]["endpoints"][0]["port"] in service_ports
    assert monitor["metadata"]["labels"]["release"] == "kube-prom"
    pod_annotations = only(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert pod_annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
        "team": "rl",
    }


def test_model_sources_mount_the_folder_where_rmserve_reads_it(rendered: dict[str, list[Manifest]]) -> None:
    mount_path = chart_defaults()["model"]["mountPath"]

    def volume_at(manifests: list[Manifest], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        pod_spec = only(manifests, "Deployment")["spec"]["template"]["spec"]
        mount = next(m for m in server_container(manifests)["volumeMounts"] if m["mountPath"] == path)
        return mount, next(v for v in pod_spec["volumes"] if v["name"] == mount["name"])

    defaults_mounts = [m["mountPath"] for m in server_container(rendered["defaults"])["volumeMounts"]]
    assert mount_path not in defaults_mounts  # the image's baked-in model

    mount, volume = volume_at(rendered["gpu-queue-depth"], mount_path)
    assert mount["readOnly"] is True
    assert mount["subPath"] == "hh-rm/onnx"
    assert volume["persistentVolumeClaim"] == {"claimName": "reward-models", "readOnly": True}

    manifests = rendered["init-container-long-drain"]
    mount, volume = volume_at(manifests, mount_path)
    assert mount["readOnly"] is True
    assert "emptyDir" in volume
    (init,) = only(manifests, "Deployment")["spec"]["template"]["spec"]["initContainers"]
    assert init["image"] == "registry.example/rm-weights:7"
    assert init["command"] == ["cp", "-R", "/rm/.", mount_path]
    assert init["volumeMounts"] == [{"name": mount["name"], "mountPath": mount_path}]


def test_grafana_dashboard_is_valid_json_on_the_service_metrics(rendered: dict[str, list[Manifest]]) -> None:
    configmap = only(rendered["gpu-queue-depth"], "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["rmserve.json"])
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(expressions) >= 10
    queried = {_metric_family(name) for e in expressions for name in _METRIC_NAME.findall(e)}
    # Every rmserve series the dashboard queries is one the server exports; container_* come from the kubelet.
    assert {m for m in queried if m.startswith("rmserve_")} <= set(service_metric_types())
    assert {m for m in queried if not m.startswith("rmserve_")} <= {"container_cpu_usage_seconds"}
    assert chart_defaults()["autoscaling"]["queueDepth"]["metricName"] in queried
    assert "ConfigMap" not in kinds(rendered["defaults"])


def test_autoscaling_metric_is_a_gauge_the_server_exports() -> None:
    name = chart_defaults()["autoscaling"]["queueDepth"]["metricName"]
    assert service_metric_types().get(name) == "gauge", f"{name} is not a gauge of service.metrics.Metrics"


def test_chart_settings_are_server_settings() -> None:
    """Each settings key the chart allows, and each variable it sets itself, is a field of the server's Settings."""
    from service.settings import Settings

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    allowed = set(schema["properties"]["settings"]["properties"])
    chart_managed = {"model", "host", "port", "api_keys", "shutdown_grace_s", "device"}
    assert allowed | chart_managed <= set(Settings.model_fields)


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_the_server_accepts_the_rendered_environment(
    rendered: dict[str, list[Manifest]], set_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod's RMSERVE_* variables parse as the server's Settings and pass its bind-safety check."""
    from service.settings import Settings, check_bind_safety

    for name in list(os.environ):
        if name.startswith("RMSERVE_"):
            monkeypatch.delenv(name)
    for name, value in env_of(server_container(rendered[set_name])).items():
        if name.startswith("RMSERVE_"):
            # A secretKeyRef is filled in by the kubelet; any non-empty key list stands in for it here.
            monkeypatch.setenv(name, value if isinstance(value, str) else "key-from-the-secret")
    settings = Settings()
    check_bind_safety(settings)
    assert settings.host == "0.0.0.0"
    assert str(settings.model) == chart_defaults()["model"]["mountPath"]


_METRIC_NAME = re.compile(r"\b((?:rmserve|container)_[a-z_]+)\b")


def _metric_family(series: str) -> str:
    """The metric family a series belongs to (rmserve_requests_total -> rmserve_requests)."""
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


def service_metric_types() -> dict[str, str]:
    """Metric family name -> type, as the server's own registry exports them."""
    from service.metrics import Metrics

    return {family.name: family.type for family in Metrics().registry.collect()}
