"""`python -m relay.turnbench [--url URL] [--turns N]`: turn latency of a running Relay.

Sends FAQ questions (each answered by the action server from the FAQ index) and small-talk
turns (answered by a Rasa rule) over the REST channel, one at a time as a customer would, and
prints p50/p95/max per kind. Start Relay first (`make run`).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import httpx

FAQ_TURNS = [
    "how do I reset my password?",
    "what does the business plan cost",
    "can I get a refund",
    "my files are not syncing",
    "is my data encrypted?",
    "how do I share a folder with someone outside my team",
]
RULE_TURNS = ["hi", "thanks", "are you a bot?"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, texts: list[str], turns: int) -> list[float]:
    """Milliseconds per turn for `turns` turns cycling through `texts`."""
    timings = []
    with httpx.Client(timeout=60) as client:
        for i in range(turns):
            sender = f"bench-{uuid.uuid4().hex}"
            started = time.perf_counter()
            response = client.post(url, json={"sender": sender, "message": texts[i % len(texts)]})
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            if not response.json():
                raise SystemExit(f"no reply to {texts[i % len(texts)]!r}")
    return timings


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m relay.turnbench", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5005/webhooks/rest/webhook")
    parser.add_argument("--turns", type=int, default=60)
    args = parser.parse_args()
    measure(args.url, FAQ_TURNS + RULE_TURNS, 6)  # warm-up
    print(f"{'turn kind':<28}{'turns':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for label, texts in (("FAQ (action server + index)", FAQ_TURNS), ("rule response", RULE_TURNS)):
        t = measure(args.url, texts, args.turns)
        print(
            f"{label:<28}{len(t):>6}{statistics.median(t):>9.1f}"
            f"{_percentile(t, 0.95):>9.1f}{max(t):>9.1f}"
        )


if __name__ == "__main__":
    main()
