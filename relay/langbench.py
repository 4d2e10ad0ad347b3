"""`python -m relay.langbench`: how Relay does in each of its languages, on a real Relay.

Starts Relay (API, action server, Rasa with the current model) on free ports with a scratch
database, as a customer's server runs it, and prints one table per language:

1. FAQ: the questions of knowledge/eval/multilingual_faq.yml (64 per language, the same
   questions in en, zh, es, de, fr, pt), each in a fresh widget conversation through the
   gateway. "right" is the reply being the labelled entry's answer; "in language" the share of
   right answers given in the customer's language (the entry's translation, or the English
   answer with the note that says it is not translated). Turn latency p50/p95 is the whole turn
   (gateway, Rasa, action server, CRM); query latency p50/p95 is the FAQ search alone, as the
   action server runs it (language guess, then the English or the multilingual engine),
   measured in this process on the same indexes.
2. Turn kinds: the held-out test messages of bot/multilingual_experiment/turns.yml (never
   trained on) through Rasa's /model/parse: intent accuracy and parse latency p50/p95.
3. Memory: the resident set (RSS, and its peak) of the running action server, which holds both
   encoders, after all the traffic; and of an action server started with
   RELAY_MULTILINGUAL_MODEL="" (MiniLM only) after its start, for the difference.

Timings depend on the machine's load: the header prints the load average at the start.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from relay import responses
from relay.languages import CODES
from relay.settings import ROOT, Settings
from relay.stack import APP_PYTHON, Service, Stack, child_env
from relay.users import Customer

FAQ_QUESTIONS = ROOT / "knowledge" / "eval" / "multilingual_faq.yml"
TURNS = ROOT / "bot" / "multilingual_experiment" / "turns.yml"


@dataclass
class LanguageRow:
    """What one language got."""

    faq_right: int = 0
    faq_in_language: int = 0
    faq_total: int = 0
    turn_s: list[float] = field(default_factory=list)
    query_s: list[float] = field(default_factory=list)
    intents_right: int = 0
    intents_total: int = 0
    parse_s: list[float] = field(default_factory=list)
    wrong_intents: list[str] = field(default_factory=list)
    wrong_faq: list[str] = field(default_factory=list)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def p50_p95(seconds: list[float]) -> str:
    """p50 / p95 in milliseconds ("-" for none)."""
    from knowledge.tools.bench import percentiles

    if not seconds:
        return "-"
    p50, p95 = percentiles(seconds)
    return f"{p50:.1f} / {p95:.1f}" if p95 < 100 else f"{p50:.0f} / {p95:.0f}"


def rss_mb(pid: int) -> tuple[float, float]:
    """A process's resident set and its peak, in MB (from /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def bench_settings(data_dir: Path) -> Settings:
    """Settings for a Relay of its own: free ports, scratch database, the worktree's indexes."""
    return Settings(
        env="test", data_dir=data_dir, host="127.0.0.1", rasa_port=free_port(),
        actions_port=free_port(), api_port=free_port(), index_dir=ROOT / "var" / "index",
        multilingual_index_dir=ROOT / "var" / "index-multilingual",
        models_dir=ROOT / "var" / "models",
    )


@contextmanager
def running_relay(settings: Settings) -> Iterator[Stack]:
    """Migrate and seed the scratch database, start Relay, stop it afterwards."""
    from crm_store.migrate import upgrade
    from relay.train import ensure_model

    if not all((index / "manifest.json").exists() for _, index in settings.indexes()):
        subprocess.run([sys.executable, "-m", "knowledge.build"], cwd=ROOT, check=True)
    upgrade(settings.database_url)
    subprocess.run([sys.executable, "-m", "crm_store.seed"], cwd=ROOT, env=child_env(settings),
                   check=True, capture_output=True)
    stack = Stack(settings, ensure_model(quiet=True))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def expected_reply(entry: Any, lang: str) -> str:
    """What a customer writing in lang should get for an entry (as actions/languages.py says
    it): the translation, or the English answer with the untranslated note."""
    if lang in entry.answers:
        return str(entry.answers[lang])
    if lang == "en":
        return str(entry.answer)
    return responses.text("utter_answer_untranslated", lang, answer=entry.answer)


def run_faq(settings: Settings, rows: dict[str, LanguageRow], limit: int) -> None:
    """Every question in a fresh widget conversation; also the FAQ search alone, in process."""
    from knowledge.build.sources import load_faq
    from knowledge.runtime.languages import LanguageDetector
    from knowledge.runtime.multilingual import MultilingualFaq
    from relay.languages import DEFAULT

    entries = {e.id: e for e in load_faq(settings.faq_paths)}
    queries = yaml.safe_load(FAQ_QUESTIONS.read_text(encoding="utf-8"))["queries"][:limit]
    faq = MultilingualFaq.from_settings(settings)
    detector = LanguageDetector(CODES, DEFAULT)
    for lang in CODES:
        row = rows[lang]
        for item in queries:
            text, gold = item[lang], item["entry"]
            started = time.perf_counter()
            guess = detector.guess(text)
            faq.engine_for(guess.language if guess.sure else lang, guess.language).decide(text)
            row.query_s.append(time.perf_counter() - started)
            visitor = Customer(settings.api_url)
            try:
                turn = visitor.say(text)
            finally:
                visitor.close()
            row.turn_s.append(turn.seconds)
            row.faq_total += 1
            if gold in turn.entries:
                row.faq_right += 1
                row.faq_in_language += expected_reply(entries[gold], lang) in turn.texts
            else:
                row.wrong_faq.append(f"{text!r} -> {turn.entries or turn.texts[:1]}")


def run_intents(settings: Settings, rows: dict[str, LanguageRow]) -> None:
    """turns.yml's held-out test messages through Rasa's NLU (POST /model/parse)."""
    turns = yaml.safe_load(TURNS.read_text(encoding="utf-8"))
    with httpx.Client(base_url=settings.rasa_url, timeout=60) as client:
        for intent, by_lang in turns.items():
            for lang, split in by_lang.items():
                for text in split["test"]:
                    started = time.perf_counter()
                    response = client.post("/model/parse", params={"token": settings.rasa_token},
                                           json={"text": text})
                    response.raise_for_status()
                    rows[lang].parse_s.append(time.perf_counter() - started)
                    got = response.json()["intent"]["name"]
                    rows[lang].intents_total += 1
                    if got == intent:
                        rows[lang].intents_right += 1
                    else:
                        rows[lang].wrong_intents.append(f"{text!r} {intent}->{got}")


def english_only_action_server(settings: Settings, log_dir: Path) -> tuple[float, float]:
    """RSS of an action server without the multilingual encoder, once it answers."""
    alone = settings.model_copy(update={"multilingual_model": "", "actions_port": free_port()})
    service = Service("actions-en", [str(APP_PYTHON), "-m", "actions"],
                      f"{alone.actions_url}/health", log_dir / "actions-en.log")
    service.start(child_env(alone))
    try:
        deadline = time.monotonic() + 180
        while not service.answers():
            if service.exited() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the English-only action server did not start: "
                                   f"{service.log_tail()}")
            time.sleep(0.5)
        assert service.process is not None
        return rss_mb(service.process.pid)
    finally:
        service.stop()


def render(rows: dict[str, LanguageRow], memory: dict[str, tuple[float, float]],
           load: str, verbose: bool) -> str:
    """The tables."""
    def pct(right: int, total: int) -> str:
        return f"{100 * right / total:5.1f}" if total else "    -"

    head = (f"{'lang':<5} {'FAQ n':>5} {'right %':>8} {'in lang %':>10} "
            f"{'turn p50/p95 ms':>17} {'query p50/p95 ms':>17} {'kinds n':>8} {'kinds %':>8} "
            f"{'parse p50/p95 ms':>17}")
    lines = [f"Relay per language, through the real stack (load average at start: {load})", "",
             head, "-" * len(head)]
    for lang, row in rows.items():
        lines.append(
            f"{lang:<5} {row.faq_total:>5} {pct(row.faq_right, row.faq_total):>8} "
            f"{pct(row.faq_in_language, row.faq_right):>10} "
            f"{p50_p95(row.turn_s):>17} {p50_p95(row.query_s):>17} "
            f"{row.intents_total:>8} {pct(row.intents_right, row.intents_total):>8} "
            f"{p50_p95(row.parse_s):>17}")
    others = [r for lang, r in rows.items() if lang != "en" and r.faq_total]
    if others and rows["en"].faq_total:
        worst = min(r.faq_right / r.faq_total for r in others)
        english = rows["en"].faq_right / rows["en"].faq_total
        lines.append(f"worst other language / English, FAQ right: {100 * worst / english:.0f}% "
                     "(target >= 85%)")
    lines += ["", f"{'action server':<40} {'RSS MB':>8} {'peak MB':>8}"]
    for name, (rss, peak) in memory.items():
        lines.append(f"{name:<40} {rss:>8.0f} {peak:>8.0f}")
    if verbose:
        for lang, row in rows.items():
            for miss in row.wrong_faq:
                lines.append(f"  FAQ miss [{lang}] {miss}")
            for miss in row.wrong_intents:
                lines.append(f"  kind miss [{lang}] {miss}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Start Relay, measure every language, print the tables, stop Relay."""
    parser = argparse.ArgumentParser(prog="python -m relay.langbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0,
                        help="FAQ questions per language (default: all 64)")
    parser.add_argument("--verbose", action="store_true", help="also list every miss")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = {lang: LanguageRow() for lang in CODES}
    memory: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="relay-langbench-") as scratch:
        settings = bench_settings(Path(scratch))
        print(f"==> starting Relay on ports {settings.api_port}/{settings.rasa_port}/"
              f"{settings.actions_port}", flush=True)
        with running_relay(settings) as stack:
            actions = next(s for s in stack.services if s.name == "actions")
            assert actions.process is not None
            memory["MiniLM + e5 (as shipped), after start"] = rss_mb(actions.process.pid)
            print("==> turn kinds through Rasa's NLU", flush=True)
            run_intents(settings, rows)
            print("==> FAQ questions through the widget gateway", flush=True)
            run_faq(settings, rows, args.limit or 10**6)
            memory["MiniLM + e5 (as shipped), after traffic"] = rss_mb(actions.process.pid)
        print("==> an action server with MiniLM only", flush=True)
        memory["MiniLM only, after start"] = english_only_action_server(
            settings, Path(scratch) / "logs")
    print(render(rows, memory, load, args.verbose))


if __name__ == "__main__":
    main()
