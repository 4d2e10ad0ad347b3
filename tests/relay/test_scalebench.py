"""relay.scalebench's arithmetic: CPU per turn by role, and the ceiling it implies."""

from __future__ import annotations

import os

from relay import loadtest, scalebench


def test_cpu_is_summed_over_a_roles_replicas() -> None:
    roles = scalebench.by_role({"rasa-1": 10.0, "rasa-2": 14.0, "api-1": 3.0, "haproxy": 1.0})
    assert roles == {"rasa": 24.0, "api": 3.0, "haproxy": 1.0, "all": 28.0}


def test_the_ceiling_is_the_tighter_of_rasa_and_the_machine() -> None:
    cell = loadtest.Result("cluster x2 c=32", seconds=10.0, latencies=[100.0] * 120,
                           cpu_ms={"rasa": 20.0, "all": 40.0})
    line = scalebench.summary("cluster", [cell], replicas=2)
    cores = os.cpu_count() or 1
    expected = min(2 * 1000 / 20.0, cores * 1000 / 40.0)
    assert "best 12.0 turns/s" in line and line.endswith(f"= {expected:.0f} turns/s")


def test_without_cpu_figures_only_the_throughput_is_given() -> None:
    cell = loadtest.Result("single c=1", seconds=2.0, latencies=[50.0] * 10)
    assert scalebench.summary("single", [cell], replicas=1) == "single: best 5.0 turns/s"
