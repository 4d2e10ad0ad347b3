"""`python -m relay.loadtest`: many concurrent conversations against a running Relay.

A bounded asyncio driver: `--conversations` conversations run at once, each sending `--turns`
FAQ questions one after the other (a customer waits for the answer before writing again), for
each `--concurrency` given. Prints, per setting: turns, seconds, throughput (turns/s), turn
latency p50/p95/p99 and errors. Two doors:

* `widget` (default): `POST /chat/web-…/messages` on `--api` (the app, or the load balancer);
* `telegram`: the bridge's webhook (`--telegram-webhook`, `--telegram-secret`); the script
  serves a stand-in Bot API (`--bot-api-port`, point RELAY_TELEGRAM_BASE_URL at it) and a turn
  ends when the stand-in received the bridge's `sendMessage` for that chat.

`--kill PID --kill-after S` sends SIGKILL to one process S seconds into each setting (a
replica dying mid-run); errors then count what customers saw go wrong. An answer that is the
gateway's "your message is saved" instead of the bot's counts as an error ("saved").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from relay import channels, convbench

FAQ_TURNS = convbench.FAQ_TURNS  # questions the FAQ answers
SAVED_MARK = "your message is saved"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """What one setting produced."""

    label: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per watched process, per turn
    load: float = 0.0  # the machine's 1-minute load average when the setting ended

    @property
    def turns(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def row(self) -> str:
        ok = sorted(self.latencies)
        rate = len(ok) / self.seconds if self.seconds else 0.0
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "0"
        cpu = "".join(f"  {name} {ms:.1f}" for name, ms in self.cpu_ms.items())
        return (f"{self.label:<34} {self.turns:>6} {self.seconds:>7.1f} {rate:>8.1f} "
                f"{_pct(ok, 50):>7.0f} {_pct(ok, 95):>7.0f} {_pct(ok, 99):>7.0f} "
                f"{self.load:>5.1f}  {errors}"
                + (f"  | CPU ms/turn:{cpu}" if cpu else ""))


HEADER = (f"{'setting':<34} {'turns':>6} {'seconds':>7} {'turns/s':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'load':>5}  errors")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Widget:
    """The website widget's door: one POST per turn, the replies in the response."""

    def __init__(self, api_url: str, client: httpx.AsyncClient) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = client

    def new_conversation(self) -> str:
        return channels.WEB.conversation_id(uuid.uuid4().hex)

    async def turn(self, conversation: str, text: str) -> str | None:
        """None if the bot answered, else the kind of error."""
        try:
            response = await self.client.post(f"{self.api_url}/chat/{conversation}/messages",
                                              json={"text": text})
        except httpx.HTTPError as error:
            return type(error).__name__
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        replies = response.json().get("replies") or []
        if not replies:
            return "no reply"
        if any(SAVED_MARK in (r.get("text") or "") for r in replies):
            return "saved"
        return None


class BotApiStandIn:
    """A stand-in Telegram Bot API: records sendMessage per chat and wakes the waiting turn."""

    def __init__(self) -> None:
        self.waiters: dict[int, asyncio.Future[str]] = {}
        self.message_id = 0

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        me = {"id": 777000111, "is_bot": True, "first_name": "Relay", "username": "relay_load_bot"}

        async def method(request: Request) -> JSONResponse:
            name = request.path_params["method"]
            form = await request.form() if "form" in request.headers.get("content-type", "") \
                else await request.json() if await request.body() else {}
            params = dict(form)
            if name == "getMe":
                return JSONResponse({"ok": True, "result": me})
            if name == "sendMessage":
                chat = int(params["chat_id"])
                self.message_id += 1
                waiter = self.waiters.pop(chat, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(str(params.get("text", "")))
                return JSONResponse({"ok": True, "result": {
                    "message_id": self.message_id, "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"}, "text": params.get("text", "")}})
            if name == "getUpdates":
                await asyncio.sleep(1)
                return JSONResponse({"ok": True, "result": []})
            return JSONResponse({"ok": True, "result": True})

        return Starlette(routes=[Route("/bot{token}/{method}", method, methods=["GET", "POST"])])


class Telegram:
    """The Telegram webhook's door: a turn ends when the bridge sent the chat its answer."""

    def __init__(self, url: str, secret: str, client: httpx.AsyncClient,
                 stand_in: BotApiStandIn, timeout: float) -> None:
        self.url, self.secret, self.client = url, secret, client
        self.stand_in, self.timeout = stand_in, timeout
        self.update_id = random.randint(10**6, 10**8)

    def new_conversation(self) -> str:
        return str(random.randint(10**9, 2 * 10**9))

    async def turn(self, conversation: str, text: str) -> str | None:
        chat = int(conversation)
        self.update_id += 1
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.stand_in.waiters[chat] = waiter
        update = {"update_id": self.update_id, "message": {
            "message_id": self.update_id, "date": int(time.time()), "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "Load"},
            "from": {"id": chat, "is_bot": False, "first_name": "Load"}}}
        try:
            response = await self.client.post(
                self.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": self.secret})
        except httpx.HTTPError as error:
            return type(error).__name__
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            answer = await asyncio.wait_for(waiter, self.timeout)
        except TimeoutError:
            return "no reply"
        return "saved" if SAVED_MARK in answer else None


async def run_setting(door: Widget | Telegram, label: str, conversations: int, turns: int,
                      kill: tuple[int, float] | None = None,
                      watch: dict[str, int] | None = None,
                      per_conversation: int = 0) -> Result:
    """`conversations` customers at once, `turns` sequential turns each.

    per_conversation > 0: a customer starts a new conversation every that many turns (long
    runs at low concurrency without one ever-growing conversation).
    """
    result = Result(label)
    rng = random.Random(1)

    async def customer() -> None:
        conversation = door.new_conversation()
        for number in range(turns):
            if per_conversation and number and number % per_conversation == 0:
                conversation = door.new_conversation()
            started = time.perf_counter()
            error = await door.turn(conversation, rng.choice(FAQ_TURNS))
            if error is None:
                result.latencies.append((time.perf_counter() - started) * 1000)
            else:
                result.errors[error] += 1

    async def killer(pid: int, after: float) -> None:
        await asyncio.sleep(after)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            print(f"    killed pid {pid} after {after:.1f} s", flush=True)

    watch = watch or {}
    cpu_before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    started = time.perf_counter()
    tasks = [asyncio.create_task(customer()) for _ in range(conversations)]
    kill_task = asyncio.create_task(killer(*kill)) if kill else None
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    result.load = os.getloadavg()[0]
    for name, pid in watch.items():
        result.cpu_ms[name] = (cpu_seconds(pid) - cpu_before[name]) * 1000 / max(1, result.turns)
    if kill_task is not None:
        kill_task.cancel()
    return result


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    """Serve an ASGI app on 127.0.0.1:port inside this event loop."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def _until_up(client: httpx.AsyncClient, url: str, seconds: float = 90.0) -> None:
    """Wait until url answers 200 (the bridge comes up once the stand-in Bot API does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(url)).status_code == 200:
                return
        await asyncio.sleep(0.5)
    raise SystemExit(f"loadtest: {url} does not answer; is the Telegram bridge running in "
                     "webhook mode with RELAY_TELEGRAM_BASE_URL pointing at --bot-api-port?")


async def main_async(args: argparse.Namespace) -> list[Result]:
    """Warm up, then run each concurrency in turn and print its row as it finishes."""
    limits = httpx.Limits(max_connections=max(args.concurrency) + 10,
                          max_keepalive_connections=max(args.concurrency) + 10)
    results: list[Result] = []
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=args.timeout, limits=limits))
        door: Widget | Telegram
        if args.door == "telegram":
            stand_in = BotApiStandIn()
            await stack.enter_async_context(serving(stand_in.app(), args.bot_api_port))
            door = Telegram(args.telegram_webhook, args.telegram_secret, client, stand_in,
                            args.timeout)
            await _until_up(client, args.telegram_webhook.rsplit("/", 2)[0] + "/healthz")
        else:
            door = Widget(args.api, client)
        await run_setting(door, "warm-up", min(4, max(args.concurrency)), 3)
        print(HEADER, flush=True)
        for concurrency in args.concurrency:
            label = f"{args.label} {args.door} c={concurrency}".strip()
            kill = (args.kill, args.kill_after) if args.kill else None
            if kill:
                label += " kill -9"
            result = await run_setting(door, label, concurrency, args.turns, kill, args.cpu)
            print(result.row(), flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m relay.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--door", choices=("widget", "telegram"), default="widget")
    parser.add_argument("--api", default="http://127.0.0.1:8000",
                        help="the app or the load balancer in front of it")
    parser.add_argument("--telegram-webhook", default="http://127.0.0.1:8081/telegram/webhook")
    parser.add_argument("--telegram-secret", default="")
    parser.add_argument("--bot-api-port", type=int, default=8099)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--label", default="")
    parser.add_argument("--kill", type=int, default=0, help="PID to kill -9 mid-run")
    parser.add_argument("--kill-after", type=float, default=5.0)
    parser.add_argument("--cpu", nargs="*", default=[], metavar="NAME=PID",
                        help="report the CPU time per turn of these processes")
    args = parser.parse_args(argv)
    args.cpu = {name: int(pid) for name, _, pid in (item.partition("=") for item in args.cpu)}
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
