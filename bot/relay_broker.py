"""Rasa event broker that forwards tracker events to the Relay CRM.

Loaded by Rasa (inside .venv-rasa) from bot/endpoints.yml, so it may import only what Rasa's
environment has: aiohttp, not the application's packages. Events are queued in order and
posted in batches to `POST /internal/rasa-events`; a failed post is retried with backoff, so a
CRM restart does not lose turns (Rasa's tracker store keeps them too).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

_FORWARDED = {"user", "bot", "pause", "resume", "slot", "session_started", "restart"}
_MAX_BATCH = 100
_RETRY_DELAYS = (0.2, 0.5, 1, 2, 5, 10, 30)


class RelayEventBroker(EventBroker):
    """Posts Rasa's events, in order, to the Relay API."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: asyncio.AbstractEventLoop | None = None
    ) -> RelayEventBroker:
        """Build the broker from the `event_broker` section of endpoints.yml."""
        # `token` is one of EndpointConfig's own fields, not a free keyword.
        return cls(url=broker_config.url or "", token=broker_config.token or "")

    def publish(self, event: dict[str, Any]) -> None:
        """Queue one event; called by Rasa's tracker store for every new event."""
        if event.get("event") not in _FORWARDED:
            return
        self._queue.put_nowait(event)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    def is_ready(self) -> bool:
        """The broker needs no connection up front."""
        return True

    async def close(self) -> None:
        """Deliver what is queued, then close the HTTP session."""
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._worker, timeout=10)
            except TimeoutError:
                logger.error(
                    "Relay broker: %d events not delivered at shutdown", self._queue.qsize()
                )
        if self._session is not None:
            await self._session.close()

    async def _drain(self) -> None:
        while not self._queue.empty():
            batch = [self._queue.get_nowait()]
            while not self._queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(self._queue.get_nowait())
            await self._post(batch)

    async def _post(self, batch: list[dict[str, Any]]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=aiohttp.ClientTimeout(total=10),
            )
        for delay in (*_RETRY_DELAYS, None):
            try:
                async with self._session.post(self.url, json={"events": batch}) as response:
                    if response.status < 300:
                        return
                    detail = (await response.text())[:200]
                    if 400 <= response.status < 500 and response.status not in (408, 429):
                        logger.error(
                            "Relay CRM refused %d events: %s %s",
                            len(batch),
                            response.status,
                            detail,
                        )
                        return
                    logger.warning("Relay CRM answered %s: %s", response.status, detail)
            except (TimeoutError, aiohttp.ClientError) as error:
                logger.warning("Relay CRM not reachable at %s: %s", self.url, error)
            if delay is None:
                break
            await asyncio.sleep(delay)
        logger.error("Relay broker gave up on %d events (kept in Rasa's tracker store)", len(batch))
