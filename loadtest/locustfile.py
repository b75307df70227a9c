"""A realistic request mix for locust against a running rmserve (`locust -f loadtest/locustfile.py`).

The mix: `/v1/score` with 1 to 32 pairs (an RL trainer's micro-batches and single checks), `/v1/rank`
best-of-n with 4 to 16 candidates, `/v1/gate` with one reply (a chat product's moderation step), and
`/get_reward` as OpenRLHF's remote reward model sends it (full texts in `query`, the prompts beside them).
Texts come from HH-RLHF (rows :1800) when `../shared` is present beside the checkout, else from the
project's own preference set (`loadtest.workload`).

Every answer is checked: status 200 and one score per pair sent; anything else counts as a failure.

Pass/fail thresholds (checked when locust quits; exit code 1 when one breaks, so a headless run can gate):
`--max-fail-ratio` (default 0: no failed request) and `--max-p95-ms` (0: no bound) on all requests.
`python -m loadtest.run_locust` runs this headless, starting a server when no `--host` is given.
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, between, events, task
from locust.env import Environment

from loadtest.mix import WEIGHTS, Mix, answer_problem

_MIX_PAIRS = Mix().pairs  # read once per locust process, shared by its users


@events.init_command_line_parser.add_listener
def _add_threshold_arguments(parser: Any) -> None:
    parser.add_argument(
        "--max-p95-ms", type=float, default=0.0, help="fail the run when p95 exceeds this (0: no bound)"
    )
    parser.add_argument("--max-fail-ratio", type=float, default=0.0, help="fail the run above this failure ratio")


@events.quitting.add_listener
def _apply_thresholds(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    total = environment.stats.total
    problems = []
    if total.num_requests == 0:
        problems.append("no request was sent")
    if total.fail_ratio > (options.max_fail_ratio if options else 0.0):
        problems.append(f"{total.num_failures} of {total.num_requests} requests failed")
    p95_ms = total.get_response_time_percentile(0.95) or 0
    if options and options.max_p95_ms > 0 and p95_ms > options.max_p95_ms:
        problems.append(f"p95 {p95_ms} ms > {options.max_p95_ms:g} ms")
    if problems:
        print("THRESHOLDS BROKEN: " + "; ".join(problems))
        environment.process_exit_code = 1
    else:
        print(f"thresholds held: {total.num_requests} requests, p95 {p95_ms} ms")


class RewardModelClient(FastHttpUser):
    """One client of the service: a trainer worker, a best-of-n sampler or a chat product, by turns."""

    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.mix = Mix(_MIX_PAIRS)

    def _send(self, kind: str) -> None:
        request = self.mix.request(kind)
        with self.client.post(request.path, json=request.body, name=request.name, catch_response=True) as response:
            try:
                data = response.json() if response.status_code == 200 else None
            except ValueError:
                data = None
            problem = answer_problem(request, response.status_code or 0, data)
            if problem:
                response.failure(problem)
            else:
                response.success()

    @task(WEIGHTS["score"])
    def score(self) -> None:
        self._send("score")

    @task(WEIGHTS["rank"])
    def rank(self) -> None:
        self._send("rank")

    @task(WEIGHTS["gate"])
    def gate(self) -> None:
        self._send("gate")

    @task(WEIGHTS["get_reward"])
    def get_reward(self) -> None:
        self._send("get_reward")
