"""The ideal-queue simulation the p99 target is read against, checked where queueing theory has the answer."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from loadtest.queue_model import arrival_gap_s, latency_quantile_s, service_times_s, simulate_fifo_s


def test_arrival_gaps_are_exponential_or_exactly_even() -> None:
    rng = random.Random(0)
    poisson = [arrival_gap_s(rng, 50.0, "poisson") for _ in range(20_000)]
    assert statistics.mean(poisson) == pytest.approx(0.02, rel=0.03)
    assert statistics.stdev(poisson) / statistics.mean(poisson) == pytest.approx(1.0, rel=0.05)
    assert {arrival_gap_s(rng, 50.0, "uniform") for _ in range(100)} == {1 / 50.0}


def test_service_times_follow_tokens_with_the_measured_mean() -> None:
    times = service_times_s([100, 300], mean_pass_s=0.05)
    assert times == pytest.approx([0.025, 0.075])


def test_even_arrivals_and_equal_service_times_never_wait() -> None:
    # Two workers at 90% utilisation, arrivals 1/rate apart: each worker is free again before its next request.
    in_system_s = simulate_fifo_s([0.02], workers=2, rate_rps=90.0, arrivals="uniform", requests=5_000)
    assert max(in_system_s) == pytest.approx(0.02)


def test_poisson_arrivals_to_one_exponential_worker_match_mm1() -> None:
    # M/M/1: time in system is exponential with rate mu - lambda, so its p99 is ln(100) / (mu - lambda).
    rng = random.Random(1)
    mean_service_s, rate_rps = 0.01, 70.0
    service = [rng.expovariate(1 / mean_service_s) for _ in range(50_000)]
    p99 = latency_quantile_s(
        simulate_fifo_s(service, workers=1, rate_rps=rate_rps, arrivals="poisson", requests=300_000)
    )
    mu = 1 / statistics.mean(service)
    assert p99 == pytest.approx(math.log(100) / (mu - rate_rps), rel=0.06)


def test_bursty_arrivals_lengthen_the_tail() -> None:
    service = service_times_s(list(range(20, 260, 10)), mean_pass_s=0.05)
    uniform = latency_quantile_s(
        simulate_fifo_s(service, workers=2, rate_rps=28.0, arrivals="uniform", requests=50_000)
    )
    poisson = latency_quantile_s(
        simulate_fifo_s(service, workers=2, rate_rps=28.0, arrivals="poisson", requests=50_000)
    )
    assert max(service) <= uniform < poisson


def test_short_windows_see_less_of_a_poisson_tail() -> None:
    # A few seconds of Poisson arrivals rarely hold the long bursts that set the steady-state p99.
    service = service_times_s(list(range(20, 260, 10)), mean_pass_s=0.05)
    in_system_s = simulate_fifo_s(service, workers=2, rate_rps=28.0, arrivals="poisson", requests=100_000)
    steady = latency_quantile_s(in_system_s)
    assert latency_quantile_s(in_system_s, window_requests=150) < 0.8 * steady
    assert latency_quantile_s(in_system_s, window_requests=100_000) == steady


def test_an_unstable_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="unstable"):
        simulate_fifo_s([0.05], workers=2, rate_rps=40.0, arrivals="poisson")
