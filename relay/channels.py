"""The channel registry: every way a customer reaches Relay, described once.

A channel has a name, the prefix of its conversation ids (a conversation id is the channel's
prefix plus the customer's id on that channel: `web-<hex>` for a widget session, `tg-<chat id>`
for a Telegram chat), whether a conversation on it belongs to one person (then the customer's
identity is remembered across conversations), and how messages written outside a turn (agent
replies, notices) reach the customer, with the back-off a failed delivery waits before the
next try. Everything else (the CRM, the action server, the gateway, the seed) asks this module;
the code that talks to a channel lives in its package under bot/channels/.

This module imports nothing from Relay, so every package may use it. Adding a channel: a name
in ChannelName, an entry in REGISTRY, and a package under bot/channels/ (docs/ARCHITECTURE.md,
"Adding a channel").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ChannelName(StrEnum):
    """The channels Relay ships with."""

    WEB = "web"
    TELEGRAM = "telegram"
    REST = "rest"


class Delivery(StrEnum):
    """How messages written outside a turn (agent replies, notices) reach a customer."""

    PUSH = "push"  # a DeliveryWorker claims each one and sends it (bot/channels/delivery.py)
    PULL = "pull"  # the customer's client fetches them (the widget's event stream)
    NONE = "none"  # they don't: only the turn's own replies reach the caller


@dataclass(frozen=True)
class Channel:
    """One channel: its name, conversation-id prefix, whether it is personal, its delivery."""

    name: str
    id_prefix: str  # "" only for the fallback channel, which takes every other id
    personal: bool  # a conversation belongs to one person, so their identity is remembered
    delivery: Delivery
    retry_delays: tuple[float, ...] = (1.0,)  # seconds before retry n (the last one repeats)

    def owns(self, conversation_id: str) -> bool:
        """Whether conversation_id is one of this channel's ids."""
        return bool(self.id_prefix) and conversation_id.startswith(self.id_prefix)

    def conversation_id(self, external_id: str | int) -> str:
        """The conversation id of the customer known as external_id on this channel."""
        return f"{self.id_prefix}{external_id}"

    def external_id(self, conversation_id: str) -> str:
        """The customer's id on this channel (chat id, widget session) in a conversation id."""
        return conversation_id.removeprefix(self.id_prefix)

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive failed deliveries (failures >= 1)."""
        return self.retry_delays[min(max(failures, 1), len(self.retry_delays)) - 1]


WEB = Channel(ChannelName.WEB, "web-", personal=True, delivery=Delivery.PULL)
TELEGRAM = Channel(
    ChannelName.TELEGRAM, "tg-", personal=True, delivery=Delivery.PUSH,
    retry_delays=(1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
# Direct callers of Rasa's REST channel (scripts, `rasa test`): any other id, nobody in particular.
REST = Channel(ChannelName.REST, "", personal=False, delivery=Delivery.NONE)

REGISTRY: tuple[Channel, ...] = (WEB, TELEGRAM, REST)
FALLBACK = REST


def names() -> tuple[str, ...]:
    """Every registered channel name."""
    return tuple(channel.name for channel in REGISTRY)


def get(name: str) -> Channel:
    """The channel called name; ValueError naming the known ones otherwise."""
    for channel in REGISTRY:
        if channel.name == name:
            return channel
    raise ValueError(f"channel must be one of {', '.join(names())}.")


def named(value: object) -> Channel | None:
    """The channel called value, or None if value names no channel."""
    return next((channel for channel in REGISTRY if channel.name == value), None)


def of_conversation(conversation_id: str) -> Channel:
    """The channel a conversation id belongs to, by its prefix (the fallback channel if none)."""
    owners = [channel for channel in REGISTRY if channel.owns(conversation_id)]
    return max(owners, key=lambda c: len(c.id_prefix)) if owners else FALLBACK


def channel_of(
    conversation_id: str, metadata: Mapping[str, object] | None = None, *hints: object
) -> str:
    """The channel a message came in on.

    The gateway reaches Rasa through its REST channel, so Rasa's own input_channel is "rest"
    for every channel: the gateway's metadata.channel, then the id's prefix, then any hints
    (e.g. input_channel) say more. The first that names a channel other than the fallback wins.
    """
    candidates = [
        metadata.get("channel") if metadata else None,
        of_conversation(conversation_id).name,
        *hints,
    ]
    for candidate in candidates:
        channel = named(candidate)
        if channel is not None and channel is not FALLBACK:
            return channel.name
    return FALLBACK.name
