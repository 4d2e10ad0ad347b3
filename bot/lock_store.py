"""Rasa's Redis lock store, made safe for several Rasa servers at once.

Loaded by Rasa (inside .venv-rasa) from the cluster's endpoints file (relay/cluster.py writes
`lock_store: {type: bot.lock_store.RelayRedisLockStore, url: redis://…}`), so it imports
nothing from the app. It keeps Rasa's ticket lock (a conversation's messages are handled one
at a time, in the order their tickets were issued) and Rasa's storage format, and fixes what
breaks with replicas:

* Rasa 3.6's `RedisLockStore` changes a lock by GET, change in Python, SET: two servers
  issuing a ticket for one conversation at the same moment can both get the same number and
  both handle a message at once. Here every change is one optimistic Redis transaction
  (WATCH/MULTI/EXEC, retried on conflict), so a ticket number is issued once.
* A ticket lives `lock_lifetime` seconds (Rasa: 60 s, fixed at issue). A server killed while
  holding one blocks the conversation for that long, which outlasts the gateway's request.
  Here tickets are short (LOCK_LIFETIME, 10 s) and the server that holds or waits with one
  renews it every quarter of that, so a dead server's ticket lapses within seconds and
  a live one's never does, however long its turn.
* A waiter looks again every POLL_SECONDS (Rasa: every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

LOCK_LIFETIME = 10.0
RENEW_SHARE = 0.25  # a ticket is renewed every quarter of its lifetime
POLL_SECONDS = 0.02
KEY_TTL_SECONDS = 120  # a lock nobody touches for this long is gone (crashed servers' debris)


class RelayRedisLockStore(RedisLockStore):  # type: ignore[misc]
    """Ticket locks in Redis with atomic changes and renewed, short-lived tickets."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        options = dict(endpoint_config.kwargs) if endpoint_config is not None else {}
        options.update(kwargs)
        url = (endpoint_config.url if endpoint_config is not None else None) or options.pop(
            "url", None)
        if url and "://" in url:
            parsed = urlparse(url)
            options.setdefault("port", parsed.port or 6379)
            options.setdefault("db", int(parsed.path.lstrip("/") or 0))
            if parsed.password:
                options.setdefault("password", parsed.password)
            url = parsed.hostname
        self.lock_lifetime = float(options.pop("lock_lifetime", LOCK_LIFETIME))
        self.poll_seconds = float(options.pop("poll_seconds", POLL_SECONDS))
        super().__init__(host=url or "localhost", **options)

    # --- atomic changes -------------------------------------------------------------------

    def _change(self, conversation_id: str,
                change: Callable[[TicketLock | None], tuple[TicketLock | None, Any]]) -> Any:
        """Apply change(lock) -> (new lock or None to delete, result) as one transaction."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new, result = change(lock)
                    pipe.multi()
                    if new is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, new.dumps(), ex=KEY_TTL_SECONDS)
                    pipe.execute()
                    return result
                except self._watch_error:
                    continue

    @property
    def _watch_error(self) -> type[Exception]:
        import redis

        return redis.WatchError  # type: ignore[no-any-return]

    def save_lock(self, lock: TicketLock) -> None:
        """Store a lock (with the debris TTL)."""
        self.red.set(self.key_prefix + lock.conversation_id, lock.dumps(), ex=KEY_TTL_SECONDS)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue the next ticket number, once, even with other servers issuing at once."""

        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(self.lock_lifetime)

        try:
            return int(self._change(conversation_id, issue))
        except Exception as error:  # Rasa's contract: a LockError for any failure here
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def renew(self, conversation_id: str, ticket_number: int) -> None:
        """Push the ticket's expiry lifetime seconds ahead (it is alive)."""

        def push(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            for ticket in lock.tickets:
                if ticket.number == ticket_number:
                    ticket.expires = time.time() + self.lock_lifetime
            return lock, None

        self._change(conversation_id, push)

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets (a dead server's)."""

        def prune(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, prune)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove the ticket; delete the lock when nobody else holds one."""

        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.tickets else None), None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish serving (atomically; the lock goes when its last ticket does)."""
        self.finish_serving(conversation_id, ticket_number)

    # --- the lock ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float | None = None,
                   wait_time_in_seconds: float | None = None) -> AsyncIterator[TicketLock]:
        """Wait for this conversation's turn; hold it (renewed) until the block ends."""
        ticket = self.issue_ticket(conversation_id)
        renewing = asyncio.create_task(self._renew_while_alive(conversation_id, ticket))
        try:
            yield await self._wait_for_turn(conversation_id, ticket)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            self.cleanup(conversation_id, ticket)

    async def _renew_while_alive(self, conversation_id: str, ticket: int) -> None:
        while True:
            await asyncio.sleep(self.lock_lifetime * RENEW_SHARE)
            try:
                self.renew(conversation_id, ticket)
            except Exception as error:  # Redis briefly away: try again at the next beat
                logger.warning("could not renew the lock of %s: %s", conversation_id, error)

    async def _wait_for_turn(self, conversation_id: str, ticket: int) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or not any(t.number == ticket for t in lock.tickets):
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(self.poll_seconds)
            self.update_lock(conversation_id)





class RelayLockStore:
    """What bot/endpoints.yml names: Redis locks when a Redis URL is set, else Rasa's in-memory.

    One endpoints file serves the single process (no RELAY_REDIS_URL: Rasa's in-memory lock
    store, which is enough when one server handles every conversation) and the cluster.
    """

    def __new__(cls, endpoint_config: EndpointConfig | None = None) -> Any:
        if endpoint_config is not None and endpoint_config.url:
            return RelayRedisLockStore(endpoint_config)
        from rasa.core.lock_store import InMemoryLockStore

        return InMemoryLockStore()
