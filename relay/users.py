"""Relay used over HTTP as its users use it: a customer in the widget, an agent in the console.

Used by the dialogue fuzz test, the scripted conversation tests (bot/tests/conversations/) and
`python -m relay.convbench`. Everything goes over HTTP to the running processes.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx

from knowledge.build.sources import load_faq
from relay import channels
from relay.settings import ROOT

TURN_TIMEOUT = 60.0


class ChatError(RuntimeError):
    """Relay answered a user's request with an error status."""


@lru_cache(maxsize=1)
def faq_answers() -> dict[str, str]:
    """FAQ answer text in any language (whitespace-normalised) → entry id, to tell which entry
    a reply is."""
    return {" ".join(answer.split()): e.id for e in load_faq(ROOT / "knowledge" / "faq")
            for answer in (e.answer, *e.answers.values())}


@lru_cache(maxsize=1)
def faq_sentences() -> dict[str, str]:
    """Each sentence of an FAQ answer that belongs to one entry only → that entry's id."""
    from knowledge.runtime.context import sentences

    owners: dict[str, set[str]] = {}
    for answer, entry_id in faq_answers().items():
        for sentence in sentences(answer):
            owners.setdefault(sentence, set()).add(entry_id)
    return {s: next(iter(ids)) for s, ids in owners.items() if len(ids) == 1 and len(s) >= 20}


def entry_of(text: str) -> str | None:
    """The FAQ entry whose answer this reply is, if it is one — also when the reply says first
    that the answer is not translated (its last paragraph is the answer), or quotes the part of
    the answer just given that a follow-up asked about (utter_answer_again)."""
    answers = faq_answers()
    whole = answers.get(" ".join(text.split())) or answers.get(" ".join(
        text.split("\n\n")[-1].split()))
    if whole is not None:
        return whole
    flat = " ".join(text.split())
    quoted = {entry for sentence, entry in faq_sentences().items() if flat.endswith(sentence)}
    return quoted.pop() if len(quoted) == 1 else None


@dataclass
class Turn:
    """One customer message and what came back."""

    said: str
    replies: list[dict[str, Any]]
    seconds: float

    @property
    def texts(self) -> list[str]:
        return [str(r.get("text") or "") for r in self.replies]

    @property
    def entries(self) -> list[str]:
        """The FAQ entries answered in this turn, in order."""
        return [e for t in self.texts if (e := entry_of(t)) is not None]


@dataclass
class Customer:
    """A website visitor chatting through the widget gateway (POST /chat/{id}/messages)."""

    api_url: str
    conversation_id: str = field(
        default_factory=lambda: channels.WEB.conversation_id(uuid.uuid4().hex))
    turns: list[Turn] = field(default_factory=list)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TURN_TIMEOUT))

    def say(self, text: str) -> Turn:
        """Send one message; the bot's replies to it."""
        started = time.perf_counter()
        response = self.client.post(
            f"{self.api_url}/chat/{self.conversation_id}/messages", json={"text": text}
        )
        if response.status_code != 200:
            raise ChatError(f"{text!r}: HTTP {response.status_code} {response.text[:300]}")
        turn = Turn(text, list(response.json()["replies"]), time.perf_counter() - started)
        self.turns.append(turn)
        return turn

    def sign_in(self, user_id: str, user_hash: str, **claims: str) -> httpx.Response:
        """What the widget does on a page whose visitor is signed in: send the signed identity."""
        return self.client.post(f"{self.api_url}/chat/{self.conversation_id}/identity",
                                json={"user_id": user_id, "user_hash": user_hash, **claims})

    def status(self) -> str:
        """The conversation's status as the widget sees it ('bot' or 'handoff'/'agent')."""
        response = self.client.get(f"{self.api_url}/chat/{self.conversation_id}/history")
        response.raise_for_status()
        return str(response.json()["status"])

    def history(self) -> list[dict[str, Any]]:
        """The transcript the widget restores after a reload (bot, customer and agent)."""
        response = self.client.get(f"{self.api_url}/chat/{self.conversation_id}/history")
        response.raise_for_status()
        return list(response.json()["messages"])

    def close(self) -> None:
        self.client.close()


class ConsoleAgent:
    """A support agent logged into the console (cookies and CSRF, as a browser would)."""

    def __init__(self, api_url: str, email: str, password: str) -> None:
        self.api_url = api_url
        self.client = httpx.Client(base_url=api_url, timeout=TURN_TIMEOUT, follow_redirects=False)
        form = self.client.get("/console/login")
        response = self.client.post("/console/login", data={
            "email": email, "password": password, "csrf": _csrf(form.text), "next": "/console/"})
        if response.status_code != 303:
            raise ChatError(f"console login as {email} failed: HTTP {response.status_code}")

    def _csrf(self, conversation_id: str) -> str:
        page = self.client.get(f"/console/conversations/{conversation_id}")
        if page.status_code != 200:
            raise ChatError(f"console page of {conversation_id}: HTTP {page.status_code}")
        return _csrf(page.text)

    def _post(self, conversation_id: str, action: str, **form: str) -> httpx.Response:
        data = {"csrf": self._csrf(conversation_id), **form}
        response = self.client.post(f"/console/conversations/{conversation_id}/{action}",
                                    data=data)
        if response.status_code not in (200, 303):
            raise ChatError(f"console {action} on {conversation_id}: HTTP {response.status_code}")
        return response

    def claim(self, conversation_id: str) -> None:
        """Take the conversation."""
        self._post(conversation_id, "claim")

    def reply(self, conversation_id: str, text: str) -> None:
        """Send a reply to the customer on their channel."""
        self._post(conversation_id, "reply", text=text)

    def resolve(self, conversation_id: str) -> None:
        """Hand the conversation back to the assistant."""
        self._post(conversation_id, "resolve")

    def close(self) -> None:
        self.client.close()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    if match is None:
        raise ChatError("no CSRF field on the console page")
    return match.group(1)


def tracker_events(rasa_url: str, token: str, conversation_id: str) -> list[dict[str, Any]]:
    """Rasa's tracker events for a conversation (HTTP API, token auth)."""
    response = httpx.get(f"{rasa_url}/conversations/{conversation_id}/tracker",
                         params={"token": token}, timeout=TURN_TIMEOUT)
    response.raise_for_status()
    return list(response.json()["events"])


def longest_action_run(events: list[dict[str, Any]]) -> int:
    """The most actions Rasa ran between two listens (its circuit breaker trips at 10)."""
    longest = run = 0
    for event in events:
        if event.get("event") != "action":
            continue
        if event.get("name") in ("action_listen", "action_session_start"):
            run = 0
        else:
            run += 1
            longest = max(longest, run)
    return longest
