"""relay.scalebench's arithmetic (CPU per turn by role, the ceiling it implies, the verdict)
and how it finds the code before running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from relay import bench_before, loadtest, scalebench


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


def test_the_verdict_compares_with_the_code_before_of_the_same_run() -> None:
    before = loadtest.Result("before 3829484 c=16", seconds=10.0, latencies=[1.0] * 230)
    single = loadtest.Result("single c=16", seconds=10.0, latencies=[1.0] * 500)
    killed = loadtest.Result("single c=16 kill -9 rasa", seconds=1.0, latencies=[1.0] * 900)
    line = scalebench.verdict([before, single, killed])
    assert line.endswith("this run: 50.0 turns/s, 2.17 × the code before (23.0)")
    assert scalebench.verdict([single]).endswith("this run: 50.0 turns/s")


def test_the_code_before_counts_as_answering_only_when_the_bot_answers() -> None:
    said: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        said.append(request.url.path)
        text = "Thanks — your message is saved; we answer as soon as we can."
        if len(said) > 1:
            text = "Hi! How can I help?"
        return httpx.Response(200, json={"replies": [{"text": text}]})

    with httpx.Client(transport=httpx.MockTransport(gateway)) as client:
        assert not bench_before._answers(client, "http://old")
        assert bench_before._answers(client, "http://old")
    assert all(path.startswith("/chat/web-") for path in said)


def test_the_code_befores_processes_are_found_by_role(tmp_path: Path) -> None:
    script = ("import subprocess, sys, time\n"
              "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', *a])"
              " for a in (['-m', 'actions'], ['rasa', 'run'], ['-m', 'uvicorn'], ['other'])]\n"
              "print('up', flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"up\n"
        found = bench_before.children(parent.pid)
        assert set(found) == {"api", "actions", "rasa"}
        assert len(set(found.values())) == 3
        for pid in found.values():
            assert Path(f"/proc/{pid}/status").read_text().count(f"PPid:\t{parent.pid}") == 1
    finally:
        for pid in bench_before.children(parent.pid).values():
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()
