"""Value sets that cover the chart's branches: each one is a way users install rmserve."""

from __future__ import annotations

from typing import Any

VALUE_SETS: dict[str, dict[str, Any]] = {
    # `helm install rm helm/rmserve --set settings.behind_gateway=true`: the image's baked-in model,
    # two replicas, a PDB (plain defaults fail: no API keys and no gateway; see test_values_negative).
    "defaults": {"settings": {"behind_gateway": True}},
    # CPU fleet scaled by the HPA on CPU, PDB by minAvailable, tuned batching.
    "cpu-autoscaling": {
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 20, "targetCPUUtilizationPercentage": 60},
        "podDisruptionBudget": {"minAvailable": 2, "maxUnavailable": None},
        "settings": {
            "max_batch_size": 64,
            "max_batch_tokens": 32768,
            "max_wait_ms": 2.5,
            "max_queue_items": 4096,
            "max_body_bytes": 10000000,
            "threads_per_worker": 2,
            "behind_gateway": True,
        },
        "spreadAcrossNodes": False,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "rmserve"}},
            }
        ],
    },
    # GPU nodes, a model on a PVC, HPA on CPU and queue depth, Prometheus Operator and Grafana, API keys.
    "gpu-queue-depth": {
        "gpu": {"enabled": True, "count": 1, "nodeSelector": {"nvidia.com/gpu.present": "true"}},
        "model": {"source": "pvc", "pvc": {"claimName": "reward-models", "subPath": "hh-rm/onnx"}},
        "settings": {
            "dtype": "fp16",
            "max_batch_size": 128,
            "onnx_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "request_timeout_s": 20,
            "max_request_timeout_s": 25,
            "interactive_max_queue_items": 512,
            "bulk_max_pass_over_ms": 250,
            "route_lanes": {"/v1/gate": "interactive", "/v1/score": "bulk", "/classify": "bulk"},
            "max_inflight_body_bytes": 536870912,
        },
        "resources": {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "16Gi"}},
        "autoscaling": {
            "enabled": True,
            "minReplicas": 2,
            "maxReplicas": 8,
            "targetCPUUtilizationPercentage": 80,
            "queueDepth": {"enabled": True, "targetAverageValue": "32"},
        },
        "auth": {"existingSecret": "rmserve-api-keys"},
        "metrics": {"podAnnotations": True, "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prom"}}},
        "grafanaDashboard": {"enabled": True},
        "podAnnotations": {"team": "rl"},
    },
    # Model copied by an init container, long drain, a LoadBalancer, pull secrets, a fixed name.
    "init-container-long-drain": {
        "fullnameOverride": "reward-model",
        "replicaCount": 4,
        "model": {
            "source": "initContainer",
            "initContainer": {"image": "registry.example/rm-weights:7", "sourcePath": "/rm/"},
        },
        "drain": {"preStopSleepSeconds": 30, "shutdownGraceSeconds": 120, "terminationMarginSeconds": 10},
        "probes": {"readiness": {"path": "/ready", "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3}},
        "settings": {"max_request_timeout_s": 90, "log_level": "warning", "behind_gateway": True},
        "service": {"type": "LoadBalancer", "port": 80, "annotations": {"lb.example/internal": "true"}},
        "imagePullSecrets": [{"name": "regcred"}],
        "image": {"repository": "registry.example/rmserve", "tag": "0.1.0-int8", "pullPolicy": "Always"},
        "priorityClassName": "inference",
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"}],
        "serviceAccount": {"create": False, "name": "inference"},
        "extraEnv": [{"name": "OMP_NUM_THREADS", "value": "2"}],
    },
    # HPA on queue depth alone (no CPU request needed), one replica minimum, no PDB.
    "queue-depth-only": {
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": None,
            "queueDepth": {"enabled": True},
        },
        "resources": {"requests": {"cpu": None}, "limits": {"memory": "3Gi"}},
        "settings": {"behind_gateway": True},
        "podDisruptionBudget": {"enabled": False},
    },
}
