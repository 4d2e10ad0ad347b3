"""`python -m relay.eventbench`: how Rasa's events reach the CRM, measured on real processes.

Starts its own Relay (Rasa, action server, API on free ports, a fresh SQLite database) once per
event path and prints two tables:

1. Cost, per path: Rasa's CPU milliseconds per FAQ turn (the single event-loop thread is
   Relay's bottleneck), turn latency p50/p95 at the given concurrency, and how long after the
   last turn the CRM had logged every message ("n/a" where the path has no consumer here).
2. Faults, for the paths that feed the CRM: customer messages Rasa answered that never reached
   the CRM, and messages logged twice, after (a) kill -9 of Rasa in the middle of traffic,
   (b) the API down for --outage seconds while customers talk, (c) one event the CRM cannot
   store among others' turns (a lone surrogate, as a REST caller can send one).

Paths: `tail` (no event broker: the API reads Rasa's tracker store, crm_store.events), `sql`
(Rasa's own SQL event broker, into a separate SQLite file: its table is called `events` too),
`redis` (a Redis-stream broker written for this benchmark, one XADD per event, redis-server with
appendfsync everysec), and, where the checkout still has it, `http` (bot/relay_broker.py, the
in-memory queue posting to /internal/rasa-events: Relay's event path before the tracker store
was read; `git show 6fbff43^:bot/relay_broker.py > bot/relay_broker.py` brings it back for a
run). Figures are noisy on a shared machine; run
it on a quiet one and say so when quoting them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from crm_store.db import make_engine, make_session_factory
from crm_store.migrate import upgrade
from crm_store.models import Interaction
from relay import channels
from relay.settings import ROOT, Settings
from relay.stack import Stack, child_env
from relay.train import ensure_model

FAQ_TURNS = ["how do I reset my password?", "what does the business plan cost",
             "can I get a refund", "is my data encrypted?", "how do I share a folder"]
REDIS_BROKER = '''
import json, redis
from rasa.core.brokers.broker import EventBroker

class RedisStreamBroker(EventBroker):
    """Benchmark only: one XADD per event to a Redis stream."""

    def __init__(self, url):
        self.client = redis.Redis.from_url(url)

    @classmethod
    async def from_endpoint_config(cls, config, event_loop=None):
        return cls(config.url)

    def publish(self, event):
        self.client.xadd("relay-events", {"event": json.dumps(event)})

    def is_ready(self):
        return True
'''
BASE_ENDPOINTS = """action_endpoint:
  url: ${RELAY_ACTIONS_WEBHOOK}
tracker_store:
  type: SQL
  url: ${RELAY_TRACKER_URL}
"""


@dataclass
class Variant:
    """One event path: Rasa's endpoints file for it, and whether the CRM is fed by it."""

    name: str
    broker: str  # the event_broker section, or ""
    feeds_crm: bool
    extra_path: list[str] = field(default_factory=list)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def variants(work: Path, redis_url: str | None) -> dict[str, Variant]:
    """The event paths this checkout can run."""
    found = {"tail": Variant("tail", "", feeds_crm=(ROOT / "crm_store" / "events.py").exists()),
             "sql": Variant("sql", f"event_broker:\n  type: SQL\n  dialect: sqlite\n"
                                   f"  db: {work / 'broker.db'}\n", feeds_crm=False)}
    if (ROOT / "bot" / "relay_broker.py").exists():
        found["http"] = Variant("http", "event_broker:\n  type: bot.relay_broker.RelayEventBroker\n"
                                        "  url: ${RELAY_EVENTS_URL}\n"
                                        "  token: ${RELAY_SERVICE_TOKEN}\n", feeds_crm=True)
    if redis_url:
        (work / "bench_redis_broker.py").write_text(REDIS_BROKER)
        found["redis"] = Variant("redis", f"event_broker:\n  type: bench_redis_broker."
                                          f"RedisStreamBroker\n  url: {redis_url}\n",
                                 feeds_crm=False, extra_path=[str(work)])
    return found


@contextlib.contextmanager
def redis_server(work: Path) -> Iterator[str | None]:
    """redis-server on a free port with an append-only file (fsync every second), if installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--dir", str(work),
                                "--appendonly", "yes", "--appendfsync", "everysec",
                                "--save", ""], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def running(variant: Variant, work: Path) -> Iterator[Stack]:
    """A fresh Relay for one variant: migrated, seeded database; stopped afterwards."""
    data_dir = work / variant.name
    settings = Settings(env="test", data_dir=data_dir, rasa_port=free_port(),
                        actions_port=free_port(), api_port=free_port(),
                        index_dir=ROOT / "var" / "index", models_dir=ROOT / "var" / "models",
                        secret_key="bench-secret", service_token="bench-service",
                        rasa_token="bench-rasa")
    upgrade(settings.database_url)
    subprocess.run([sys.executable, "-m", "crm_store.seed"], cwd=ROOT, check=True,
                   env=child_env(settings), capture_output=True)
    endpoints = work / f"endpoints-{variant.name}.yml"
    endpoints.write_text(BASE_ENDPOINTS + variant.broker)
    env = dict(os.environ)
    env["RELAY_EVENTS_URL"] = f"{settings.api_url}/internal/rasa-events"  # the http variant's
    if variant.extra_path:
        env["PYTHONPATH"] = os.pathsep.join([*variant.extra_path, str(ROOT)])
    stack = Stack(settings, ensure_model(quiet=True), env=env, endpoints=endpoints)
    if variant.extra_path:
        stack.env["PYTHONPATH"] = env["PYTHONPATH"]
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Traffic:
    """What a burst of turns did: the texts Rasa answered, latencies, failures."""

    answered: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failed: int = 0


async def drive(settings: Settings, texts: list[tuple[str, str]], concurrency: int,
                traffic: Traffic) -> None:
    """Send (sender, text) turns to Rasa's gateway channel, `concurrency` at a time."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in texts:
        queue.put_nowait(item)
    headers = {"Authorization": f"Bearer {settings.rasa_token}"}
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                sender, text = queue.get_nowait()
                started = time.perf_counter()
                # json.dumps escapes a lone surrogate, as a browser's JSON.stringify does.
                body = json.dumps({"sender": sender, "message": text,
                                   "metadata": {"channel": channels.WEB.name}})
                try:
                    response = await client.post(
                        f"{settings.rasa_url}/webhooks/relay/webhook", content=body,
                        headers={**headers, "Content-Type": "application/json"})
                except httpx.HTTPError:
                    traffic.failed += 1
                    continue
                if response.status_code == 200:
                    traffic.answered.append(text)
                    traffic.latencies.append((time.perf_counter() - started) * 1000)
                else:
                    traffic.failed += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def turns(n: int, senders: int, tag: str) -> list[tuple[str, str]]:
    """n FAQ turns spread over `senders` conversations, each text unique (tag + number)."""
    ids = [channels.WEB.conversation_id(uuid.uuid4().hex) for _ in range(senders)]
    return [(ids[i % senders], f"{FAQ_TURNS[i % len(FAQ_TURNS)]} ({tag} {i})") for i in range(n)]


def logged(stack: Stack, texts: list[str]) -> tuple[int, int]:
    """(how many of texts the CRM logged at least once, how many it logged more than once)."""
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            counts: dict[str, int] = {
                text: count for text, count in session.execute(
                    select(Interaction.text, func.count()).where(Interaction.text.in_(texts))
                    .group_by(Interaction.text)).all()}
    finally:
        engine.dispose()
    return sum(1 for t in texts if counts.get(t)), sum(1 for t in texts if counts.get(t, 0) > 1)


def settle(stack: Stack, texts: list[str], timeout: float) -> float | None:
    """Seconds until every text is logged, or None if some never were within timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if logged(stack, texts)[0] == len(texts):
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def cost(stack: Stack, variant: Variant, n: int, concurrency: int) -> str:
    """One row of the cost table."""
    asyncio.run(drive(stack.settings, turns(20, 5, "warm-up"), concurrency, Traffic()))
    rasa = stack.service("rasa").process
    assert rasa is not None
    before = cpu_seconds(rasa.pid)
    traffic = Traffic()
    asyncio.run(drive(stack.settings, turns(n, max(1, n // 10), "cost"), concurrency, traffic))
    spent = cpu_seconds(rasa.pid) - before
    lag = settle(stack, traffic.answered, 120) if variant.feeds_crm else None
    lag_text = "n/a" if not variant.feeds_crm else ("never" if lag is None else f"{lag:.2f}")
    return (f"{variant.name:<8}{len(traffic.answered):>7}{spent * 1000 / max(1, n):>12.1f}"
            f"{percentile(traffic.latencies, 0.5):>9.0f}{percentile(traffic.latencies, 0.95):>9.0f}"
            f"{lag_text:>12}")


def kill_rasa(stack: Stack, concurrency: int) -> Traffic:
    """kill -9 Rasa while `concurrency` customers talk; restart it; talk a little more."""
    traffic = Traffic()
    batch = turns(10 * concurrency, concurrency, "kill")

    async def scenario() -> None:
        task = asyncio.create_task(drive(stack.settings, batch, concurrency, traffic))
        while len(traffic.answered) < len(batch) // 2 and not task.done():
            await asyncio.sleep(0.05)
        stack.service("rasa").kill()
        await task

    asyncio.run(scenario())
    rasa = stack.service("rasa")
    rasa.start(stack.env)
    stack.wait([rasa])
    asyncio.run(drive(stack.settings, turns(concurrency, concurrency, "after-kill"),
                      concurrency, traffic))
    return traffic


def api_outage(stack: Stack, seconds: float) -> Traffic:
    """The API down (kill -9) for `seconds` while customers talk to Rasa; then back."""
    traffic = Traffic()
    api = stack.service("api")
    api.kill()
    started = time.monotonic()
    asyncio.run(drive(stack.settings, turns(30, 6, "outage"), 3, traffic))
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    api.start(stack.env)
    stack.wait([api])
    return traffic


def bad_event(stack: Stack) -> Traffic:
    """One lone surrogate among nine other customers' turns, sent at once."""
    traffic = Traffic()
    batch = turns(9, 9, "neighbour")
    hostile = (channels.WEB.conversation_id(uuid.uuid4().hex), "hi \ud800")
    asyncio.run(drive(stack.settings, [*batch[:4], hostile, *batch[4:]], 10, traffic))
    traffic.answered = [t for t in traffic.answered if "\ud800" not in t]
    return traffic


def faults(stack: Stack, variant: Variant, concurrency: int, outage: float) -> list[str]:
    """Rows of the fault table for one variant."""
    rows = []
    for label, run in (("kill -9 Rasa", lambda: kill_rasa(stack, concurrency)),
                       (f"API down {outage:.0f} s", lambda: api_outage(stack, outage)),
                       ("one bad event", lambda: bad_event(stack))):
        traffic = run()
        settle(stack, traffic.answered, 60)
        got, twice = logged(stack, traffic.answered)
        rows.append(f"{variant.name:<8}{label:<18}{len(traffic.answered):>9}"
                    f"{len(traffic.answered) - got:>7}{twice:>8}{traffic.failed:>8}")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run every path's cost and fault measurements; print the two tables."""
    parser = argparse.ArgumentParser(prog="python -m relay.eventbench", description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--outage", type=float, default=65.0, help="seconds the API is down")
    parser.add_argument("--variants", default="tail,sql,redis,http")
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-eventbench-") as tmp:
        work = Path(tmp)
        with redis_server(work) as redis_url:
            available = variants(work, redis_url)
            chosen = [available[n] for n in args.variants.split(",") if n in available]
            cost_rows, fault_rows = [], []
            for variant in chosen:
                with running(variant, work) as stack:
                    cost_rows.append(cost(stack, variant, args.turns, args.concurrency))
                    print(cost_rows[-1], flush=True)
                    if variant.feeds_crm and not args.no_faults:
                        fault_rows += faults(stack, variant, 10, args.outage)
    print(f"\n{'path':<8}{'turns':>7}{'Rasa CPU ms':>12}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'CRM lag s':>12}   (concurrency {args.concurrency})")
    print("\n".join(cost_rows))
    if fault_rows:
        print(f"\n{'path':<8}{'fault':<18}{'answered':>9}{'lost':>7}{'twice':>8}{'failed':>8}")
        print("\n".join(fault_rows))


if __name__ == "__main__":
    main()
