"""`python -m relay.convbench`: how whole conversations go on a running Relay (`make run`).

Prints three tables, everything measured in this run through the widget gateway, the way a
customer's browser talks to Relay:

1. Scripted multi-turn scenarios (support question + follow-ups, sales lead with detours,
   profile change with a change of mind, case + status, handoff and back), each run
   --runs times with its phrasings drawn at random: task success rate, turns to success.
2. The follow-up set (knowledge/eval/followups.yml): each pair in a fresh conversation; the
   share of follow-ups answered with the right entry, and of topic switches kept apart.
3. Turn latency p50/p95 of FAQ turns and of rule turns through the gateway, with the same
   turns sent straight to Rasa's channel as the reference (the gateway's own cost).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select

from crm_store import customers
from crm_store.db import make_engine, make_session_factory
from crm_store.models import Case, Customer, Lead
from relay import channels
from relay.devmail import read_mails
from relay.mail import code_in
from relay.settings import ROOT, Settings, get_settings
from relay.users import ChatError, ConsoleAgent
from relay.users import Customer as Visitor

FOLLOW_UPS = ROOT / "knowledge" / "eval" / "followups.yml"
FAQ_TURNS = ["how do I reset my password?", "what does the business plan cost",
             "can I get a refund", "my files are not syncing", "is my data encrypted?",
             "how do I share a folder with someone outside my team"]
RULE_TURNS = ["hi", "thanks", "are you a bot?"]


@dataclass
class Run:
    """One scenario run: did the task succeed, in how many customer turns, how fast."""

    success: bool
    turns: int
    latencies: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class Bench:
    """What a scenario needs: the running Relay's settings, a CRM session factory, an agent."""

    settings: Settings
    agent: ConsoleAgent
    rng: random.Random

    def __post_init__(self) -> None:
        self.sessions = make_session_factory(make_engine(self.settings.database_url))

    def visitor(self) -> Visitor:
        return Visitor(self.settings.api_url)

    def email(self) -> str:
        return f"bench-{uuid.uuid4().hex[:10]}@example.com"

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def known_customer(self, name: str) -> str:
        """A new customer record in the CRM (as if they had signed up); their email."""
        email = self.email()
        with self.sessions.begin() as session:
            customers.create(session=session, actor="service:convbench", email=email, name=name)
        return email

    def code_for(self, email: str, *, timeout: float = 30.0) -> str:
        """The verification code in the latest mail to email, as the customer reads it from
        their inbox (the development mail server's directory); "" if none came in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = [m.body for m in read_mails(self.settings.mail_dir) if m.to == email]
            if mails and (code := code_in(mails[-1])):
                return code
            time.sleep(0.2)
        return ""


def _run(visitor: Visitor, success: bool, note: str = "") -> Run:
    latencies = [t.seconds * 1000 for t in visitor.turns]
    visitor.close()
    return Run(success, len(visitor.turns), latencies, note)


def support_with_follow_ups(b: Bench) -> Run:
    """A question, two follow-ups that only make sense in context, a thank-you."""
    v = b.visitor()
    first = v.say(b.pick("how do I share a link?", "how can I share a file with a client",
                         "how do I send someone a link to a folder"))
    second = v.say(b.pick("can I put a password on it?", "can I protect it with a password?",
                          "and can I make it expire?"))
    third = v.say(b.pick("what about on the free plan?", "and on free?"))
    v.say(b.pick("thanks!", "great, thank you"))
    ok = (first.entries == ["share-link"] and second.entries == ["link-password-expiry"]
          and third.entries in (["link-password-expiry"], ["free-plan-limits"]))
    return _run(v, ok, "" if ok else f"{first.entries} {second.entries} {third.entries}")


def sales_lead_with_detours(b: Bench) -> Run:
    """A demo request with a question mid-form, a correction, and a sure lead at the end."""
    v, email = b.visitor(), b.email()
    v.say(b.pick("I want a demo for my team", "can I book a demo", "talk to sales"))
    v.say(email)
    v.say(b.pick("Dana Scully", "I'm Dana Scully", "dana scully"))
    for _ in range(6):  # answer whatever the form asks next, with detours
        asked = " ".join(v.turns[-1].texts).lower()
        if "which plan" in asked:
            v.say(b.pick("the business plan", "Business", "probably business?"))
        elif "how many people" in asked:
            v.say(b.pick("about 25 people", "25", "we're 25"))
        elif "company" in asked:
            v.say(b.pick("Acme Ltd", "it's Acme Ltd", "Acme Ltd."))
        elif "budget" in asked:
            v.say(b.pick("what would Business cost for 25 of us per month?",
                         "how much is business per user?"))
            v.say(b.pick("that was a question, our budget is about 400 dollars",
                         "ok, about $400 a month then"))
        elif "when would you like" in asked:
            v.say(b.pick("next month", "in Q3", "as soon as possible"))
            break
    with b.sessions() as session:
        customer = session.scalars(select(Customer).where(Customer.email == email)).first()
        lead = None if customer is None else session.scalars(
            select(Lead).where(Lead.customer_id == customer.id)).first()
        ok = (lead is not None and (lead.budget or "").startswith("$400")
              and lead.company_size == "25 people" and customer is not None
              and customer.company == "Acme Ltd")
    return _run(v, ok, "" if ok else " / ".join(" ".join(t.texts)[:60] for t in v.turns[-3:]))


def _asked(v: Visitor) -> str:
    return " ".join(v.turns[-1].texts).lower()


def _prove(b: Bench, v: Visitor, email: str) -> None:
    """Answer the bot's "your email?" and "the code we sent?" if it asks them now."""
    for _ in range(2):
        asked = _asked(v)
        if "code" in asked and email in asked:
            v.say(b.code_for(email))
        elif "email" in asked:
            v.say(email)
        else:
            return


def profile_change_of_mind(b: Bench) -> Run:
    """A known customer starts to change the address, proves who they are with the mailed
    code, backs out, changes the phone instead (read back, yes)."""
    v, email = b.visitor(), b.known_customer("Ana Kowalski")
    v.say(b.pick("I need to change my address", "my address has changed", "update my address"))
    _prove(b, v, email)
    v.say(b.pick("hmm actually no, we're moving next month", "never mind", "actually no"))
    v.say(b.pick("please update my phone number instead", "change my phone number"))
    _prove(b, v, email)
    v.say("+44 20 7946 0958")
    v.say(b.pick("yes", "yes please", "correct"))
    with b.sessions() as session:
        customer = session.scalars(select(Customer).where(Customer.email == email)).first()
        ok = (customer is not None and customer.address is None
              and customer.phone == "+442079460958")
    return _run(v, ok, "" if ok else " / ".join(" ".join(t.texts)[:60] for t in v.turns[-3:]))


def case_and_status(b: Bench) -> Run:
    """A known customer reports a problem (a case is opened), then asks for the status of
    their cases, proving who they are with the mailed code when asked."""
    v, email = b.visitor(), b.known_customer("Ola Nordmann")
    v.say(b.pick("I want to report a problem", "open a ticket", "something is broken"))
    _prove(b, v, email)
    if "name" in _asked(v):
        v.say("Ola Nordmann")
    v.say(b.pick("my files stopped syncing on my mac since yesterday",
                 "why do uploads keep failing on windows?"))
    v.say(b.pick("what's the status of my cases?", "any update on my ticket"))
    _prove(b, v, email)
    with b.sessions() as session:
        case = session.scalars(select(Case).where(
            Case.conversation_id == v.conversation_id, Case.type == "problem")).first()
        ok = case is not None and f"#{case.id}" in " ".join(v.turns[-1].texts)
    return _run(v, ok, "" if ok else " / ".join(" ".join(t.texts)[:60] for t in v.turns[-3:]))


def handoff_and_back(b: Bench) -> Run:
    """Asks for a person, gets an agent's reply, is handed back, and the bot answers again."""
    v = b.visitor()
    v.say(b.pick("how much is pro?", "is there a free trial?"))
    v.say(b.pick("I want to talk to a human", "agent", "can I speak to a person?"))
    waiting = v.status() == "handoff"
    b.agent.claim(v.conversation_id)
    b.agent.reply(v.conversation_id, "Hi, this is Sam from Nimbus Drive — how can I help?")
    silent = v.say("hi Sam, my invoice is wrong").replies == []
    b.agent.resolve(v.conversation_id)
    back = v.say(b.pick("how do I reset my password?", "where can I find my invoices?"))
    delivered = any(m["author"] == "agent" for m in v.history())
    ok = waiting and silent and delivered and bool(back.entries)
    return _run(v, ok, f"waiting={waiting} silent={silent} delivered={delivered}")


SCENARIOS: dict[str, Callable[[Bench], Run]] = {
    "support question + follow-ups": support_with_follow_ups,
    "sales lead with detours": sales_lead_with_detours,
    "profile change, change of mind": profile_change_of_mind,
    "case + status": case_and_status,
    "handoff and back": handoff_and_back,
}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def follow_up_share(settings: Settings, path: Path) -> dict[str, tuple[int, int]]:
    """Right entries for the follow-ups and the topic switches, each in a fresh conversation."""
    data = yaml.safe_load(path.read_text())
    result = {}
    for key in ("followups", "topic_switches"):
        right = 0
        for item in data[key]:
            v = Visitor(settings.api_url)
            v.say(item["first"])
            then = v.say(item["then"])
            right += bool(then.entries) and then.entries[0] in item["expect"]
            v.close()
        result[key] = (right, len(data[key]))
    return result


def turn_latencies(settings: Settings, texts: list[str], turns: int) -> tuple[list[float], ...]:
    """Milliseconds per turn through the gateway and straight to Rasa's channel, interleaved."""
    gateway, direct = [], []
    headers = {"Authorization": f"Bearer {settings.rasa_token}"}
    with httpx.Client(timeout=60) as client:
        for i in range(turns):
            text = texts[i % len(texts)]
            visitor = channels.WEB.conversation_id(uuid.uuid4().hex)
            started = time.perf_counter()
            response = client.post(f"{settings.api_url}/chat/{visitor}/messages",
                                   json={"text": text})
            gateway.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            started = time.perf_counter()
            response = client.post(f"{settings.rasa_url}/webhooks/relay/webhook", headers=headers,
                                   json={"sender": f"bench-{uuid.uuid4().hex}", "message": text,
                                         "metadata": {"channel": channels.WEB.name}})
            direct.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return gateway, direct


def main() -> None:
    """Run the scenarios, the follow-up set and the latency measurement; print the tables."""
    parser = argparse.ArgumentParser(prog="python -m relay.convbench", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs per scenario")
    parser.add_argument("--turns", type=int, default=200, help="turns per latency row")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = get_settings()
    agent = ConsoleAgent(settings.api_url, settings.demo_agent_email,
                         settings.demo_agent_password)
    bench = Bench(settings, agent, random.Random(args.seed))

    print(f"{'scenario':<34}{'runs':>5}{'success':>9}{'turns':>7}{'p50 ms':>8}{'p95 ms':>8}")
    all_ok = all_runs = 0
    for name, scenario in SCENARIOS.items():
        runs: list[Run] = []
        for _ in range(args.runs):
            try:
                runs.append(scenario(bench))
            except ChatError as error:
                runs.append(Run(False, 0, note=str(error)))
        ok = [r for r in runs if r.success]
        latencies = [ms for r in runs for ms in r.latencies]
        turns = statistics.median([r.turns for r in ok]) if ok else 0
        print(f"{name:<34}{len(runs):>5}{len(ok) / len(runs):>9.0%}{turns:>7.0f}"
              f"{percentile(latencies, 0.5):>8.0f}{percentile(latencies, 0.95):>8.0f}")
        for failed in [r for r in runs if not r.success][:2]:
            print(f"    failed: {failed.note[:150]}")
        all_ok, all_runs = all_ok + len(ok), all_runs + len(runs)
    print(f"{'all scenarios':<34}{all_runs:>5}{all_ok / all_runs:>9.0%}")

    print()
    shares = follow_up_share(settings, FOLLOW_UPS)
    print(f"{'follow-up set (fresh conversation each)':<44}{'right':>7}{'of':>5}{'share':>8}")
    for key, label in (("followups", "follow-ups answered in context"),
                       ("topic_switches", "topic switches kept apart")):
        right, total = shares[key]
        print(f"{label:<44}{right:>7}{total:>5}{right / total:>8.0%}")

    print()
    print(f"{'turn kind':<30}{'turns':>6}{'gateway p50':>13}{'p95':>7}{'Rasa p50':>10}{'p95':>7}")
    for label, texts in (("FAQ (action server + index)", FAQ_TURNS), ("rule response", RULE_TURNS)):
        turn_latencies(settings, texts, 6)  # warm-up
        gateway, direct = turn_latencies(settings, texts, args.turns)
        print(f"{label:<30}{len(gateway):>6}{percentile(gateway, 0.5):>13.0f}"
              f"{percentile(gateway, 0.95):>7.0f}{percentile(direct, 0.5):>10.0f}"
              f"{percentile(direct, 0.95):>7.0f}")
    agent.close()


if __name__ == "__main__":
    main()
