"""Bad values fail at `helm install` time with a message that names them, not later as a broken pod."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python import HelmRenderError, HelmValuesError

from tests.deploy.chart import BEHIND_GATEWAY, lint_chart, merged, render_chart

# Rejected by values.schema.json: (values, a fragment of Helm's message).
SCHEMA_REJECTS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown top-level key": ({"replicas": 3}, "additional properties 'replicas' not allowed"),
    "misspelt setting": ({"settings": {"max_batchsize": 8}}, "additional properties 'max_batchsize' not allowed"),
    "setting the chart owns": ({"settings": {"port": 9000}}, "additional properties 'port' not allowed"),
    "wrong type": ({"settings": {"max_batch_size": "lots"}}, "/settings/max_batch_size"),
    "backend name": ({"settings": {"backend": "tensorrt"}}, "/settings/backend"),
    "device name": ({"settings": {"device": "gpu0"}}, "/settings/device"),
    "log level": ({"settings": {"log_level": "WARN"}}, "/settings/log_level"),
    "no request cap": ({"settings": {"max_request_timeout_s": None}}, "max_request_timeout_s"),
    "root user": ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
    "writable root fs": (
        {"securityContext": {"readOnlyRootFilesystem": False}},
        "/securityContext/readOnlyRootFilesystem",
    ),
    "privileged port": ({"containerPort": 80}, "/containerPort"),
    "zero drain": ({"drain": {"shutdownGraceSeconds": 0}}, "/drain/shutdownGraceSeconds"),
    "model source": ({"model": {"source": "s3"}}, "/model/source"),
    "replicas zero": ({"replicaCount": 0}, "/replicaCount"),
    "gpu count": ({"gpu": {"enabled": True, "count": 0}}, "/gpu/count"),
    "cpu target": (
        {"autoscaling": {"targetCPUUtilizationPercentage": 150}},
        "/autoscaling/targetCPUUtilizationPercentage",
    ),
    "scrape interval": (
        {"metrics": {"serviceMonitor": {"interval": "15 seconds"}}},
        "/metrics/serviceMonitor/interval",
    ),
}

# Pass the schema but break an invariant across fields: a `fail` in the templates.
TEMPLATE_REJECTS: dict[str, tuple[dict[str, Any], str]] = {
    "no keys, no gateway": (
        {"settings": {"behind_gateway": False}},
        "refuses to listen on the pod network without API keys",
    ),
    "pvc without claim": ({"model": {"source": "pvc"}}, "set model.pvc.claimName"),
    "init container without image": ({"model": {"source": "initContainer"}}, "set model.initContainer.image"),
    "gpu on cpu device": ({"gpu": {"enabled": True}, "settings": {"device": "cpu"}}, "settings.device is cpu"),
    "hpa min above max": (
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}},
        "autoscaling.minReplicas (5) is above autoscaling.maxReplicas (3)",
    ),
    "hpa without metric": (
        {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}},
        "autoscaling.enabled needs a metric",
    ),
    "cpu hpa without cpu request": (
        {"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}},
        "set resources.requests.cpu",
    ),
    "pdb with both bounds": (
        {"podDisruptionBudget": {"minAvailable": 1}},
        "set exactly one of minAvailable and maxUnavailable",
    ),
    "pdb that blocks drains": (
        {"podDisruptionBudget": {"minAvailable": 2, "maxUnavailable": None}},
        "must be below the replica count (2)",
    ),
    "pdb with no room": ({"podDisruptionBudget": {"maxUnavailable": 0}}, "blocks every node drain"),
    "rollout that cannot move": ({"updateStrategy": {"maxSurge": 0, "maxUnavailable": 0}}, "cannot both be 0"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_REJECTS))
def test_schema_rejects_bad_values(case: str) -> None:
    values, message = SCHEMA_REJECTS[case]
    with pytest.raises(HelmValuesError) as raised:
        render_chart(merged(BEHIND_GATEWAY, values))
    assert message in str(raised.value)


@pytest.mark.parametrize("case", sorted(TEMPLATE_REJECTS))
def test_templates_reject_inconsistent_values(case: str) -> None:
    values, message = TEMPLATE_REJECTS[case]
    with pytest.raises(HelmRenderError) as raised:
        render_chart(merged(BEHIND_GATEWAY, values))
    assert message in str(raised.value)


def test_plain_defaults_refuse_an_unauthenticated_install() -> None:
    with pytest.raises(HelmRenderError, match="without API keys"):
        render_chart({})
    render_chart({"auth": {"existingSecret": "rmserve-api-keys"}})


def test_helm_lint_reports_schema_violations() -> None:
    findings = lint_chart(merged(BEHIND_GATEWAY, {"settings": {"max_batchsize": 8}}))
    assert any("max_batchsize" in f for f in findings)
