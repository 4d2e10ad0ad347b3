"""One polling bridge at a time: the leader lock.

Telegram gives each update to one `getUpdates` caller, and two pollers for one bot fight over
the offset (409 Conflict). With several machines each running a bridge, the one that holds the
lock polls and the others wait for it; when the leader dies, its lock goes with it and a
waiting bridge takes over. Webhook mode needs no leader: every bridge can receive Telegram's
posts behind the load balancer (fan-in), and the delivery worker's claims are per message.

* PostgreSQL: a session-level advisory lock on a connection held for the bridge's lifetime
  (released by the server when that connection ends, however the process ends);
* SQLite (one machine): an exclusive flock on a file next to the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from crm_store.db import make_engine
from relay.settings import Settings

logger = logging.getLogger(__name__)

LOCK_KEY = 0x52454C4159  # "RELAY": the advisory lock's number
WAIT_SECONDS = 2.0


@contextlib.contextmanager
def leadership(settings: Settings, *, wait_seconds: float = WAIT_SECONDS) -> Iterator[None]:
    """Block until this bridge is the leader; hold the lock until the block ends."""
    if settings.database_url.startswith("postgresql"):
        with _postgres_lock(settings.database_url, wait_seconds):
            yield
    else:
        with _file_lock(settings.data_dir / "telegram-bridge.lock", wait_seconds):
            yield


@contextlib.contextmanager
def _postgres_lock(url: str, wait_seconds: float) -> Iterator[None]:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            said = False
            while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": LOCK_KEY}).scalar():
                connection.rollback()
                if not said:
                    logger.info("another Telegram bridge polls; waiting to take over")
                    said = True
                time.sleep(wait_seconds)
            connection.commit()
            logger.info("this Telegram bridge is the leader")
            yield
    finally:
        engine.dispose()  # closing the connection releases the lock


@contextlib.contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    logger.info("another Telegram bridge polls; waiting to take over")
                    said = True
                time.sleep(wait_seconds)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
