"""`python -m relay.insightbench`: knowledge-gap quality on CLINC150 and Insights API latency.

Gap mining on data nobody tuned for (``--clinc PATH``): 100 of CLINC150's 150 intents become a
FAQ (their training queries are the paraphrases) and the index is built as Relay builds its own;
the validation queries of the other 50 intents arrive as declined questions and are mined by
knowledge.build.gaps.mine, whose clustering threshold is learnt from the FAQ's paraphrases only.
A second row adds the miner's "filled since" filter (questions the engine would now answer
confidently are dropped): on CLINC it drops most of them, because the engine confidently answers
many unseen-intent queries with a similar seen intent — in production those would have been
recorded as answered, not declined.
Printed: NMI and purity against the true intents, and how many of the 50 intents come out as a
cluster of their own (a cluster whose questions are >= 80% that intent and that holds >= half of
the intent's questions); HDBSCAN on the same vectors for comparison.

API latency (``--url POSTGRES_URL``, a database filled by ``python -m crm_store.synthetic``):
starts the API on a free port, logs in as a manager, and times every Insights endpoint
(sequential requests, after a warm-up) for the last 30 days and for the whole year.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from relay.settings import ROOT, packaged_model_path

SEED = 13
PURE = 0.8


def _intent_recovered(truth: list[str], labels: list[int]) -> int:
    """How many intents have a cluster of their own (>= PURE of it, >= half of the intent)."""
    by_cluster: dict[int, list[str]] = {}
    for t, c in zip(truth, labels, strict=True):
        by_cluster.setdefault(c, []).append(t)
    totals = Counter(truth)
    found = set()
    for members in by_cluster.values():
        intent, n = Counter(members).most_common(1)[0]
        if len(members) >= 2 and n / len(members) >= PURE and n >= totals[intent] / 2:
            found.add(intent)
    return len(found)


def _purity(truth: list[str], labels: list[int]) -> float:
    by_cluster: dict[int, list[str]] = {}
    for t, c in zip(truth, labels, strict=True):
        by_cluster.setdefault(c, []).append(t)
    return sum(Counter(m).most_common(1)[0][1] for m in by_cluster.values()) / len(truth)


def gap_quality(clinc: Path, work: Path) -> list[dict[str, Any]]:
    """Mine the 50 unseen intents' queries; one result row per method."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import normalized_mutual_info_score

    from crm_store.models import utcnow
    from knowledge.build import build, gaps
    from knowledge.build.sources import FaqEntry, slugify
    from knowledge.runtime.encoders import load_encoder
    from knowledge.runtime.engine import FaqEngine

    data = json.loads(clinc.read_text())
    intents = sorted({c for _, c in data["train"]})
    random.Random(SEED).shuffle(intents)
    known, unseen = intents[:100], set(intents[100:])
    train: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        train.setdefault(intent, []).append(text)
    entries = [FaqEntry(id=slugify(i), questions=train[i], answer=f"About {i}.") for i in known]
    model = packaged_model_path()
    encoder = load_encoder(model, cache_dir=ROOT / "var" / "models")
    index_dir = work / "clinc100-index"
    started = time.perf_counter()
    build(entries, index_dir=index_dir, model=model, encoder=encoder, progress=False,
          oos_texts=[t for t, _ in data.get("oos_train", [])])
    build_s = time.perf_counter() - started
    engine = FaqEngine(index_dir, encoder)
    now = utcnow()
    rng = random.Random(SEED)
    held_out = [(t, c) for t, c in data["val"] if c in unseen]
    questions = [gaps.Question(key=i, text=t, at=now - timedelta(days=rng.randrange(56)),
                               outcome="declined") for i, (t, _) in enumerate(held_out)]
    truth_of = {i: c for i, (_, c) in enumerate(held_out)}
    paraphrases = [(e.id, q) for e in entries for q in e.questions]
    rows = []
    learnt = None
    for label, use_engine in (
        ("agglomerative, average linkage, cut learnt from the FAQ (shipped)", False),
        ("the same, after the engine's filter (questions it now answers are dropped)", True),
    ):
        started = time.perf_counter()
        mined = gaps.mine(questions, encoder=encoder, paraphrases=paraphrases,
                          engine=engine if use_engine else None, now=now, min_size=1,
                          threshold=None if learnt is None else learnt)
        seconds = time.perf_counter() - started
        learnt = mined.threshold
        keys = [q.key for c in mined.clusters for q in c.questions]
        labels = [n for n, c in enumerate(mined.clusters) for _ in c.questions]
        truth = [truth_of[k] for k in keys]
        rows.append({
            "method": label, "questions": len(held_out), "clustered": len(keys),
            "clusters": sum(1 for c in mined.clusters if c.size >= 2),
            "nmi": normalized_mutual_info_score(truth, labels), "purity": _purity(truth, labels),
            "own_cluster": _intent_recovered(truth, labels), "threshold": mined.threshold,
            "seconds": seconds,
        })
    vectors = encoder.encode([t for t, _ in held_out])
    started = time.perf_counter()
    hdb = HDBSCAN(min_cluster_size=5, copy=True).fit_predict(vectors)  # the alternative
    labels = [int(x) if x >= 0 else 10_000 + i for i, x in enumerate(hdb)]  # noise: singletons
    truth = [c for _, c in held_out]
    rows.append({
        "method": "HDBSCAN, min_cluster_size=5, noise as singletons (not shipped)",
        "questions": len(held_out), "clustered": len(held_out),
        "clusters": len({x for x in hdb if x >= 0}),
        "nmi": normalized_mutual_info_score(truth, labels), "purity": _purity(truth, labels),
        "own_cluster": _intent_recovered(truth, labels), "threshold": None,
        "seconds": time.perf_counter() - started,
    })
    print(f"(FAQ of 100 intents, {sum(len(e.questions) for e in entries)} paraphrases, built in "
          f"{build_s:.0f} s; {len(held_out)} held-out queries of 50 unseen intents)")
    return rows


def print_gap_table(rows: list[dict[str, Any]]) -> None:
    """The gap-quality table (Markdown)."""
    print("| method | questions mined | clusters (≥2) | NMI | purity | unseen intents with a "
          "cluster of their own | threshold | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        threshold = "-" if r["threshold"] is None else f"{r['threshold']:.2f}"
        print(f"| {r['method']} | {r['clustered']} of {r['questions']} | {r['clusters']} | "
              f"{r['nmi']:.3f} | {r['purity']:.3f} | {r['own_cluster']} of 50 | {threshold} | "
              f"{r['seconds']:.1f} |")


# --- API latency ---------------------------------------------------------------------------

FIGURES = ("conversations-per-day", "busiest-hours", "containment", "handoff-reasons",
           "faq-outcomes", "faq-entries", "agents", "queue", "lead-funnel", "lead-sources",
           "cases")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare(url: str) -> dict[str, Any]:
    """ANALYZE, the manager login, segments and one gap run; returns counts and timings."""
    from sqlalchemy import func, select, text

    from crm_store import audit, segments, users
    from crm_store.db import make_engine, make_session_factory
    from crm_store.enums import Role
    from crm_store.models import Customer, CustomerSegment, GapRun, Interaction

    engine = make_engine(url)
    info: dict[str, Any] = {}
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            users.ensure_user(session=session, email="bench-manager@relay.local",
                              name="Bench Manager", password="bench-password", role=Role.MANAGER)
            info["interactions"] = session.scalar(select(func.count()).select_from(Interaction))
            info["customers"] = session.scalar(select(func.count()).select_from(Customer))
            if not session.scalar(select(func.count()).select_from(CustomerSegment)):
                started = time.perf_counter()
                segments.recompute(session=session, actor=audit.service_actor("insightbench"))
                info["segments_s"] = time.perf_counter() - started
            info["gap_runs"] = session.scalar(select(func.count()).select_from(GapRun))
    finally:
        engine.dispose()
    return info


def api_latency(url: str, requests: int) -> list[dict[str, Any]]:
    """Time every endpoint; one row per endpoint and range."""
    import httpx

    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="insightbench-"))
    env = dict(os.environ, RELAY_ENV="test", RELAY_DATA_DIR=str(data_dir),
               RELAY_DATABASE_URL=url, RELAY_API_PORT=str(port),
               RELAY_INDEX_DIR=str(ROOT / "var" / "index"),
               RELAY_MODELS_DIR=str(ROOT / "var" / "models"),
               RELAY_SECRET_KEY="bench-secret", RELAY_SERVICE_TOKEN="bench-service",
               RELAY_RASA_TOKEN="bench-rasa", PYTHONPATH=str(ROOT))
    server_log = (data_dir / "api.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "relay.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
         "warning"], cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            for _ in range(120):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            token = client.post("/api/v1/auth/login", json={
                "email": "bench-manager@relay.local", "password": "bench-password"}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            today = time.strftime("%Y-%m-%d", time.gmtime())
            year_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 364 * 86400))
            some = client.get("/api/v1/conversations", params={"status": "agent", "limit": 1},
                              headers=headers).json()["items"]
            targets: list[tuple[str, str, dict[str, str]]] = []
            for name in FIGURES:
                targets.append((name, "last 30 days", {}))
                targets.append((name, "whole year", {"from": year_ago, "to": today}))
            targets += [
                ("segments", "as computed", {}),
                ("segments/points", "2,000 points", {}),
                ("segments/customers", "champions, page of 50", {"segment": "champions"}),
                ("gaps", "latest run", {}),
            ]
            rows = []
            for path, scope, params in targets:
                url_path = f"/api/v1/insights/{path}"
                try:
                    rows.append(_time(client, url_path, params, headers, requests, path, scope))
                except httpx.HTTPError as error:
                    code = server.poll()
                    raise SystemExit(f"{path} ({scope}): {error}; API exit code {code}, log "
                                     f"{data_dir / 'api.log'}") from None
                print(f"  measured {path} ({scope})", file=sys.stderr, flush=True)
            if some:
                rows.append(_time(client, f"/api/v1/conversations/{some[0]['id']}/suggestions",
                                  {}, headers, requests, "conversations/{id}/suggestions",
                                  "FAQ engine"))
            rows.append(_time(client, "/api/v1/customers", {"segment": "at risk"}, headers,
                              requests, "customers?segment=at risk", "page of 50"))
            return rows
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()


def _time(client: Any, path: str, params: dict[str, str], headers: dict[str, str], n: int,
          name: str, scope: str) -> dict[str, Any]:
    for _ in range(2):  # warm-up: connection, plans, caches
        response = client.get(path, params=params, headers=headers)
        response.raise_for_status()
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return {"endpoint": name, "scope": scope, "n": n, "p50": statistics.median(timings),
            "p95": _percentile(timings, 0.95), "max": max(timings)}


def print_latency_table(rows: list[dict[str, Any]]) -> None:
    """The latency table (Markdown); p95 over 500 ms is marked."""
    print("| endpoint | scope | requests | p50 ms | p95 ms | max ms | ≤ 500 ms p95 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "yes" if r["p95"] <= 500 else "**no**"
        print(f"| {r['endpoint']} | {r['scope']} | {r['n']} | {r['p50']:.0f} | {r['p95']:.0f} | "
              f"{r['max']:.0f} | {ok} |")


def main(argv: list[str] | None = None) -> None:
    """Run what was asked for and print the tables."""
    parser = argparse.ArgumentParser(prog="python -m relay.insightbench", description=__doc__)
    parser.add_argument("--clinc", type=Path, help="CLINC150 JSON (gap-mining quality)")
    parser.add_argument("--url", help="PostgreSQL URL of a synthetic database (API latency)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    if not args.clinc and not args.url:
        parser.error("give --clinc and/or --url")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at start")
    if args.clinc:
        print_gap_table(gap_quality(args.clinc, args.work))
    if args.url:
        info = prepare(args.url)
        print(f"(database: {info['interactions']:,} interactions, {info['customers']:,} "
              f"customers" + (f"; segments computed in {info['segments_s']:.1f} s"
                              if "segments_s" in info else "") + ")")
        print_latency_table(api_latency(args.url, args.requests))
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
