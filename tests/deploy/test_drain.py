"""The drain arithmetic, computed from rendered manifests: a rolling update or scale-in loses no request.

What happens when a pod is deleted (times from the deletion):
  0                   the pod turns terminating: its endpoints leave the Service while the preStop hook
                      sleeps and the server keeps serving what still reaches it
  preStop             SIGTERM: the server turns not-ready, stops accepting, and finishes what it accepted,
                      for at most RMSERVE_SHUTDOWN_GRACE_S
  preStop + drain     the server has exited (a margin covers closing the model and the process)
  grace period        SIGKILL: must come strictly after all of the above

and a request accepted just before SIGTERM is over by then, because no request may run longer than
RMSERVE_MAX_REQUEST_TIMEOUT_S <= RMSERVE_SHUTDOWN_GRACE_S.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from helm_python import HelmRenderError

from tests.deploy.chart import BEHIND_GATEWAY, Manifest, env_of, kinds, merged, only, render_chart, server_container
from tests.deploy.value_sets import VALUE_SETS

# Seconds the process needs after the drain to close the model and exit; the chart's margin must cover it.
MIN_EXIT_MARGIN_S = 1


@dataclass(frozen=True)
class DrainTimeline:
    pre_stop_sleep_s: int
    shutdown_grace_s: float
    termination_grace_s: int
    readiness_period_s: int
    readiness_failure_threshold: int
    readiness_timeout_s: int
    max_request_timeout_s: float

    @classmethod
    def from_manifests(cls, manifests: list[Manifest]) -> DrainTimeline:
        pod_spec = only(manifests, "Deployment")["spec"]["template"]["spec"]
        container = server_container(manifests)
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep" and len(command) == 2, f"preStop is not a plain sleep: {command}"
        env = env_of(container)
        readiness = container["readinessProbe"]
        return cls(
            pre_stop_sleep_s=int(command[1]),
            shutdown_grace_s=float(env["RMSERVE_SHUTDOWN_GRACE_S"]),
            termination_grace_s=pod_spec["terminationGracePeriodSeconds"],
            readiness_period_s=readiness["periodSeconds"],
            readiness_failure_threshold=readiness["failureThreshold"],
            readiness_timeout_s=readiness["timeoutSeconds"],
            max_request_timeout_s=float(env["RMSERVE_MAX_REQUEST_TIMEOUT_S"]),
        )

    @property
    def server_exits_by_s(self) -> float:
        return self.pre_stop_sleep_s + self.shutdown_grace_s


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    return render_chart(VALUE_SETS[request.param])


def test_sigkill_comes_after_the_drain_and_a_margin(manifests: list[Manifest]) -> None:
    t = DrainTimeline.from_manifests(manifests)
    assert t.termination_grace_s >= t.server_exits_by_s + MIN_EXIT_MARGIN_S
    assert t.termination_grace_s > t.pre_stop_sleep_s + t.shutdown_grace_s


def test_endpoints_are_gone_before_the_server_stops_accepting(manifests: list[Manifest]) -> None:
    t = DrainTimeline.from_manifests(manifests)
    # The preStop sleep covers at least the time the cluster already tolerates an unready pod before
    # routing away from it (period x failureThreshold), so every proxy has dropped the pod by SIGTERM.
    assert t.readiness_period_s * t.readiness_failure_threshold <= t.pre_stop_sleep_s
    # A probe that times out later than its period would overlap the next one and stretch that window.
    assert t.readiness_timeout_s < t.readiness_period_s


def test_accepted_requests_finish_inside_the_drain(manifests: list[Manifest]) -> None:
    t = DrainTimeline.from_manifests(manifests)
    assert t.max_request_timeout_s <= t.shutdown_grace_s


def test_rolling_updates_keep_capacity(manifests: list[Manifest]) -> None:
    strategy = only(manifests, "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


def test_disruption_budget_allows_node_drains(manifests: list[Manifest]) -> None:
    if "PodDisruptionBudget" not in kinds(manifests):
        return
    spec = only(manifests, "PodDisruptionBudget")["spec"]
    deployment = only(manifests, "Deployment")
    if "HorizontalPodAutoscaler" in kinds(manifests):
        fewest_replicas = only(manifests, "HorizontalPodAutoscaler")["spec"]["minReplicas"]
    else:
        fewest_replicas = deployment["spec"]["replicas"]
    if "maxUnavailable" in spec:
        assert spec["maxUnavailable"] >= 1
    else:
        assert spec["minAvailable"] < fewest_replicas


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # The pod would still be in the endpoints when the server stops accepting.
        ({"drain": {"preStopSleepSeconds": 9}}, "must be at least probes.readiness.periodSeconds x failureThreshold"),
        (
            {
                "probes": {
                    "readiness": {"path": "/ready", "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}
                }
            },
            "must be at least probes.readiness.periodSeconds x failureThreshold (30)",
        ),
        (
            {
                "probes": {
                    "readiness": {"path": "/ready", "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 2}
                }
            },
            "must be shorter",
        ),
        # A request could outlive the drain and be cut off by the exit.
        ({"settings": {"max_request_timeout_s": 31}}, "must not exceed drain.shutdownGraceSeconds"),
        ({"drain": {"shutdownGraceSeconds": 20}}, "must not exceed drain.shutdownGraceSeconds (20)"),
    ],
)
def test_values_that_break_the_drain_fail_to_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match="execution error") as raised:
        render_chart(merged(BEHIND_GATEWAY, values))
    assert message in str(raised.value)


def test_grace_period_follows_the_drain_settings() -> None:
    t = DrainTimeline.from_manifests(
        render_chart(
            merged(
                BEHIND_GATEWAY,
                {
                    "settings": {"max_request_timeout_s": 600},
                    "drain": {"preStopSleepSeconds": 20, "shutdownGraceSeconds": 600, "terminationMarginSeconds": 15},
                },
            )
        )
    )
    assert (t.pre_stop_sleep_s, t.shutdown_grace_s, t.termination_grace_s) == (20, 600, 635)
