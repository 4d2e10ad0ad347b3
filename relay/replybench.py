"""`python -m relay.replybench`: how soon an agent's reply reaches the customer, on a running
Relay (`make run`).

Issue 12 asks that console actions feel instant: a reply appears for the customer within 1 s
p95 of sending. Each conversation here is a widget visitor who asked for a person and whose
conversation the agent claimed; the visitor's widget stream (GET /chat/{id}/stream, Server-Sent
Events) is open, as in a browser. The clock starts when the agent's reply is posted to the
console (the click on Send) and stops when that text arrives on the visitor's stream. The reply
route's own time (until the console has its answer) is printed beside it as the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid

import httpx

from relay.convbench import percentile
from relay.settings import get_settings
from relay.users import ConsoleAgent, Customer, _csrf


class Stream:
    """A visitor's open widget stream: the time each text arrived on it."""

    def __init__(self, api_url: str, conversation_id: str, after: int) -> None:
        self.arrived: dict[str, float] = {}
        self._url = f"{api_url}/chat/{conversation_id}/stream?after={after}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client, \
                client.stream("GET", self._url) as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: "):
                    text = str(json.loads(line[6:]).get("text") or "")
                    self.arrived.setdefault(text, time.perf_counter())

    def wait(self, text: str, timeout: float = 30.0) -> float | None:
        """When text arrived (perf_counter), or None if it did not within timeout."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if text in self.arrived:
                return self.arrived[text]
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self._stop.set()


def main() -> None:
    """Open the conversations, send the replies, print the table."""
    parser = argparse.ArgumentParser(prog="python -m relay.replybench", description=__doc__)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--replies", type=int, default=5, help="replies per conversation")
    args = parser.parse_args()
    settings = get_settings()
    agent = ConsoleAgent(settings.api_url, settings.demo_agent_email,
                         settings.demo_agent_password)
    shown: list[float] = []
    posted: list[float] = []
    lost = 0
    for _ in range(args.conversations):
        visitor = Customer(settings.api_url)
        visitor.say("I want to talk to a person")
        agent.claim(visitor.conversation_id)
        history = visitor.client.get(f"{settings.api_url}/chat/{visitor.conversation_id}/history")
        stream = Stream(settings.api_url, visitor.conversation_id, history.json()["last_id"])
        time.sleep(0.3)  # the stream is open, as in the visitor's browser
        for n in range(args.replies):
            text = f"Reply {n + 1} from the bench ({uuid.uuid4().hex[:6]})"
            page = agent.client.get(f"/console/conversations/{visitor.conversation_id}")
            started = time.perf_counter()
            agent.client.post(f"/console/conversations/{visitor.conversation_id}/reply",
                              data={"csrf": _csrf(page.text), "text": text})
            posted.append((time.perf_counter() - started) * 1000)
            arrived = stream.wait(text)
            if arrived is None:
                lost += 1
            else:
                shown.append((arrived - started) * 1000)
            time.sleep(0.2)
        stream.close()
        agent.resolve(visitor.conversation_id)
        visitor.close()
    agent.close()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"agent reply → visitor's widget stream, {settings.database_url.split(':')[0]}, "
          f"load average {load}")
    print(f"{'measure':<44}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for label, values in (("reply shown to the visitor (from Send)", shown),
                          ("console's reply request (reference)", posted)):
        print(f"{label:<44}{len(values):>5}{statistics.median(values) if values else 0:>9.0f}"
              f"{percentile(values, 0.95):>9.0f}{max(values, default=0):>9.0f}")
    print(f"replies that never reached the stream within 30 s: {lost}")


if __name__ == "__main__":
    main()
