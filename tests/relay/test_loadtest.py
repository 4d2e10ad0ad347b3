"""relay.loadtest against the running stack: a small bounded run counts turns and errors."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from relay import loadtest
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration


def test_a_small_run_through_the_widget_reports_every_turn(relay_stack: RelayStack) -> None:
    async def run() -> loadtest.Result:
        async with httpx.AsyncClient(timeout=60) as client:
            door = loadtest.Widget(relay_stack.api_url, client)
            return await loadtest.run_setting(door, "test", conversations=3, turns=2,
                                              watch={"me": os.getpid()})

    result = asyncio.run(run())
    assert result.turns == 6 and not result.errors and len(result.latencies) == 6
    row = result.row()
    assert row.startswith("test") and "CPU ms/turn" in row


def test_an_unreachable_gateway_is_counted_as_errors() -> None:
    async def run() -> loadtest.Result:
        async with httpx.AsyncClient(timeout=2) as client:
            door = loadtest.Widget("http://127.0.0.1:9", client)
            return await loadtest.run_setting(door, "down", conversations=2, turns=2)

    result = asyncio.run(run())
    assert result.latencies == [] and sum(result.errors.values()) == 4
