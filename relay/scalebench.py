"""`python -m relay.scalebench`: the code before, one process and the cluster, in one run.

First the reference: the commit issue 14 measured (relay/bench_before.py: its own files, setup
and `relay.run`, on free ports), driven with the same turns as what follows, so "at least
double" compares two figures of the same machine and the same hour (`--no-before` skips it).
Then Relay as one process (SQLite, the default setup) on free ports with a fresh data
directory, driving FAQ turns through the widget gateway at each `--concurrency`
(relay/loadtest.py: every customer waits for the answer before writing again, a new
conversation every 10 turns, about `--turns-per-cell` turns per cell), and stops it. Then the
same against the cluster of `--replicas` (PostgreSQL, Redis and HAProxy: relay/cluster.py) on a
fresh database, and once more at the highest concurrency with one Rasa replica killed (kill -9)
a third of the way in, while the others carry on.

Prints one table: issue 14's figures as filed (quoted, another day), then each measured cell
with the machine's 1-minute load average when it ended (other work on the machine slows every
row: compare rows of the same run), throughput, p50/p95/p99 turn latency, errors and the CPU
milliseconds each process spent per turn; then each mode's best throughput and CPU-bound
ceiling, and the single process against issue 14's target and against the code before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from crm_store.db import scratch_database
from relay import bench_before, cluster, loadtest
from relay.settings import ROOT, Settings
from relay.stack import Stack, StackError, fail
from relay.train import ensure_model

# Issue 14, "Measured on this 2-core machine": (concurrency, turns/s, p50 ms, p95 ms). Before
# the cheaper turns, quiet machine, one process; turns/s is only given as "flat at about 25
# from concurrency 2-4 upwards". Quoted for orientation; the run's own "before" rows are the
# reference.
REFERENCE = [(1, None, 47, 51), (16, 25.0, 603, 853), (32, 25.0, 1162, 1635)]
TARGET = 50.0  # turns/s, one process, quiet machine (issue 14, "Done when")
TURNS_PER_CONVERSATION = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(data_dir: Path, **changes: object) -> Settings:
    """Settings of a private Relay: free ports, fixed secrets, the checkout's index and models."""
    return Settings(
        env="test", data_dir=data_dir, host="127.0.0.1", api_port=_free_port(),
        rasa_port=_free_port(), actions_port=_free_port(), redis_port=_free_port(),
        replica_port_base=cluster.free_port_block(),
        index_dir=ROOT / "var" / "index", models_dir=ROOT / "var" / "models",
        secret_key="bench-secret-key", service_token="bench-service-token",
        rasa_token="bench-rasa-token", chat_rate_per_minute=0, **changes)  # type: ignore[arg-type]


@contextlib.contextmanager
def running(stack: Stack, label: str) -> Iterator[Stack]:
    """Start stack, say how long each part took to answer, stop it afterwards."""
    print(f"==> {label}: starting", flush=True)
    try:
        ready = stack.start(timeout=900)
    except StackError as error:
        fail(f"{label} did not start: {error}")
    print(f"    ready after {max(ready.values()):.0f} s (logs: {stack.log_dir})", flush=True)
    try:
        yield stack
    finally:
        stack.stop()


async def measure(api_url: str, pids: dict[str, int], label: str, concurrencies: list[int],
                  per_cell: int, kill: str = "") -> list[loadtest.Result]:
    """Each concurrency in turn (and the highest once more, killing `kill` a third of the way);
    pids are the processes whose CPU is counted, by name."""
    results: list[loadtest.Result] = []
    limits = httpx.Limits(max_connections=max(concurrencies) + 10)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        door = loadtest.Widget(api_url, client)
        await loadtest.run_setting(door, "warm-up", min(4, max(concurrencies)), 3)
        cells: list[tuple[int, str]] = [(c, "") for c in concurrencies]
        if kill:
            cells.append((max(concurrencies), kill))
        for concurrency, victim in cells:
            turns = math.ceil(per_cell / concurrency)
            name = f"{label} c={concurrency}" + (f" kill -9 {victim}" if victim else "")
            killing = None
            if victim:
                # a third of the time the same cell took without a kill
                took = next(r.seconds for r in results if r.label == f"{label} c={concurrency}")
                pid = pids.get(victim)
                killing = (pid, took / 3) if pid else None
            result = await loadtest.run_setting(
                door, name, concurrency, turns, killing,
                {k: v for k, v in pids.items() if k != victim and v},
                per_conversation=TURNS_PER_CONVERSATION)
            result.cpu_ms = by_role(result.cpu_ms)
            print(result.row(), flush=True)
            results.append(result)
    return results


def by_role(cpu_ms: dict[str, float]) -> dict[str, float]:
    """CPU ms per turn summed over a role's replicas (rasa-1 + rasa-2 → rasa), and the total."""
    roles: dict[str, float] = {}
    for name, ms in cpu_ms.items():
        role = name.rsplit("-", 1)[0] if name[-1:].isdigit() else name
        roles[role] = roles.get(role, 0.0) + ms
    roles["all"] = sum(cpu_ms.values())
    return roles


def reference_rows() -> list[str]:
    """Issue 14's figures in the table's columns."""
    rows = []
    for concurrency, rate, p50, p95 in REFERENCE:
        shown = f"~{rate:.0f}" if rate else "-"
        rows.append(f"{f'issue 14 as filed, c={concurrency}':<34} {300:>6} {'-':>7} "
                    f"{shown:>8} {p50:>7} {p95:>7} {'-':>7} {'-':>5}  (quoted)")
    return rows


def _pids(stack: Stack) -> dict[str, int]:
    return {s.name: s.pid for s in stack.services if s.pid}


def main(argv: list[str] | None = None) -> None:
    """Run the code before (issue 14's), the single process, then the cluster; print the table."""
    parser = argparse.ArgumentParser(prog="python -m relay.scalebench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--turns-per-cell", type=int, default=300)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--only", choices=("single", "cluster"), default=None)
    parser.add_argument("--no-kill", action="store_true",
                        help="skip the cluster cell with a Rasa replica killed")
    parser.add_argument("--before", default=bench_before.BEFORE, metavar="REV",
                        help="measure this commit's single process first, as the reference "
                             f"(default {bench_before.BEFORE}, the code issue 14 measured)")
    parser.add_argument("--no-before", action="store_true",
                        help="skip that reference (it trains that commit's model once, ~3 min)")
    args = parser.parse_args(argv)
    model = ensure_model()
    results: list[loadtest.Result] = []
    print(f"==> {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="relay-scalebench-") as tmp:
        if not args.no_before:
            results += _before(args)
        if args.only in (None, "single"):
            settings = bench_settings(Path(tmp) / "single")
            cluster.prepare_database(settings)
            with running(Stack(settings, model), "single process (SQLite)") as stack:
                results += asyncio.run(measure(settings.api_url, _pids(stack), "single",
                                               args.concurrency, args.turns_per_cell))
        if args.only in (None, "cluster"):
            base = cluster.postgres_url("relay_scalebench")
            with scratch_database(base, "relay_scalebench") as url:
                settings = cluster.prepare(bench_settings(Path(tmp) / "cluster",
                                                          database_url=url))
                stack = cluster.build_stack(settings, model, args.replicas)
                label = f"cluster x{args.replicas}"
                with running(stack, f"{label} (PostgreSQL, Redis, HAProxy)"):
                    results += asyncio.run(measure(settings.api_url, _pids(stack), label,
                                                   args.concurrency, args.turns_per_cell,
                                                   "" if args.no_kill else "rasa-1"))
    print("\n" + loadtest.HEADER)
    for row in reference_rows():
        print(row)
    for result in results:
        print(result.row())
    print()
    for kind, replicas in (("before", 1), ("single", 1), ("cluster", args.replicas)):
        cells = [r for r in results if r.label.startswith(kind) and "kill" not in r.label]
        if cells:
            print(summary(kind, cells, replicas))
    print(verdict(results))


def _before(args: argparse.Namespace) -> list[loadtest.Result]:
    """The reference: the old commit's single process, driven like today's."""
    label = f"before {args.before}"
    print(f"==> {label} (issue 14's code, SQLite): setting up and starting", flush=True)
    ports = {"api": _free_port(), "rasa": _free_port(), "actions": _free_port()}
    try:
        with bench_before.running(ports, args.before) as old:
            print(f"    answering; processes {old.pids}", flush=True)
            return asyncio.run(measure(old.api_url, old.pids, label, args.concurrency,
                                       args.turns_per_cell))
    except bench_before.BeforeUnavailable as error:
        print(f"    skipped: {error}", flush=True)
        return []


def best_rate(results: list[loadtest.Result], kind: str) -> float:
    """The best turns/s of the cells whose label starts with kind (not the kill cells)."""
    rates = [len(r.latencies) / r.seconds for r in results
             if r.label.startswith(kind) and "kill" not in r.label and r.seconds]
    return max(rates, default=0.0)


def verdict(results: list[loadtest.Result]) -> str:
    """Issue 14's single-process target against what this run measured."""
    single, before = best_rate(results, "single"), best_rate(results, "before")
    line = (f"issue 14's target for one process: ≥ {TARGET:.0f} turns/s on a quiet machine and "
            "at least double the code before")
    if not single:
        return line
    line += f"; this run: {single:.1f} turns/s"
    if before:
        line += f", {single / before:.2f} × the code before ({before:.1f})"
    return line


def summary(kind: str, cells: list[loadtest.Result], replicas: int) -> str:
    """Best measured throughput, and the CPU-bound ceiling on this machine when it is idle.

    Each Rasa server runs its turns on one thread, so `replicas` of them manage at most
    replicas * 1000 / (Rasa's CPU ms per turn) turns/s; all processes together at most
    cores * 1000 / (everyone's CPU ms per turn). CPU per turn is measured under the run's load
    (contention can inflate it), so the ceiling is a conservative estimate.
    """
    best = max(len(r.latencies) / r.seconds for r in cells if r.seconds)
    busiest = cells[-1]  # the highest concurrency
    rasa, everyone = busiest.cpu_ms.get("rasa", 0.0), busiest.cpu_ms.get("all", 0.0)
    if not rasa or not everyone:
        return f"{kind}: best {best:.1f} turns/s"
    cores = os.cpu_count() or 1
    ceiling = min(replicas * 1000 / rasa, cores * 1000 / everyone)
    return (f"{kind}: best {best:.1f} turns/s measured; CPU per turn at {busiest.label}: Rasa "
            f"{rasa:.1f} ms, all processes {everyone:.1f} ms → idle-machine ceiling "
            f"min({replicas} * 1000/{rasa:.1f}, {cores} * 1000/{everyone:.1f}) = "
            f"{ceiling:.0f} turns/s")


if __name__ == "__main__":
    main()
