"""Rasa's calls to the action server on kept connections, their JSON written by ujson.

Runs inside .venv-rasa (installed at start-up by the gateway channel, bot/rasa_channel.py).
Rasa 3.6's `EndpointConfig.request` opens a new aiohttp session, and so a new TCP connection,
for every call, and serialises the body with the standard json module; a FAQ turn makes two
calls (the language slot's mapping action, then the answer). Profiled under load (py-spy, docs/
operations.md "Cost of a turn"), connecting took about 4 % of Rasa's CPU and json.dumps about
5 %. For an endpoint that says `keep_alive: true` in bot/endpoints.yml, this keeps one session
per event loop (aiohttp pools its connections; rasa_sdk's server keeps them open for 120 s,
aiohttp drops idle ones after 15 s, so a reused connection is never one the server closed) and
writes the body with ujson, which Rasa already ships. Everything else is Rasa's: the headers,
the parameters and token, the timeout, the error on a status >= 400, None for a body that is
not JSON. Other endpoints go through Rasa's own method unchanged.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp
import ujson
from aiohttp import ContentTypeError
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

_RASA_REQUEST = EndpointConfig.request
# (endpoint URL, loop) -> session: keyed by URL, not by the config object, so copies of one
# endpoint share a pool and the map stays as small as the endpoints file. Every request still
# sends its own endpoint's headers (request headers win over the session's).
_SESSIONS: dict[tuple[str, int], aiohttp.ClientSession] = {}


def _session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """The endpoint's session on the running loop, made (Rasa's way) on first use."""
    key = (str(endpoint.url), id(asyncio.get_running_loop()))
    session = _SESSIONS.get(key)
    if session is None or session.closed:
        session = _SESSIONS[key] = endpoint.session()
    return session


async def close_sessions() -> None:
    """Close every kept session (at server stop)."""
    sessions = list(_SESSIONS.values())
    _SESSIONS.clear()
    for session in sessions:
        await session.close()


def _dumps(body: Any) -> bytes:
    """The body as JSON: ujson, or the json module for what ujson refuses (NaN, lone
    surrogates, integers beyond 64 bits) so a body Rasa could send is still sent."""
    try:
        return ujson.dumps(body, ensure_ascii=False).encode()
    except (OverflowError, UnicodeError, TypeError, ValueError):
        return json.dumps(body).encode()


async def request(
    self: EndpointConfig,
    method: str = "post",
    subpath: str | None = None,
    content_type: str | None = "application/json",
    compress: bool = False,
    **kwargs: Any,
) -> Any:
    """Rasa's EndpointConfig.request, on a kept session with a ujson body (see module doc)."""
    if not self.kwargs.get("keep_alive"):
        return await _RASA_REQUEST(self, method, subpath, content_type, compress, **kwargs)
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", None) or {})
    headers.update(self.headers or {})
    sslcontext = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
    if "json" in kwargs:
        kwargs["data"] = _dumps(kwargs.pop("json"))
    async with _session(self).request(
        method, concat_url(self.url, subpath), headers=headers,
        params=self.combine_parameters(kwargs), compress=compress, ssl=sslcontext, **kwargs,
    ) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason,
                                      await response.content.read())
        try:
            return await response.json(loads=ujson.loads)
        except ContentTypeError:
            return None


def install() -> None:
    """Route every EndpointConfig.request of this process through request() (idempotent)."""
    EndpointConfig.request = request  # type: ignore[method-assign]


def installed() -> bool:
    """True once install() ran."""
    return EndpointConfig.request is request  # type: ignore[comparison-overlap]
