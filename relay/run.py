"""`python -m relay.run` (what `make run` calls after setup): start Relay and keep it up.

Starts the API, the action server and Rasa (and the Telegram bridge when a token is set, and
the development mail server when mail goes to it),
waits until each answers, prints where to talk to the bot, restarts a process that crashes
(alone, with back-off), and stops everything on Ctrl-C or SIGTERM — also while still starting.

`python -m relay.run --replicas N` (`make run-cluster`) starts the cluster instead: PostgreSQL,
Redis, N Rasa servers, N action servers and N API workers behind HAProxy (relay/cluster.py).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import signal
import time
from types import FrameType

from relay import channels
from relay.nightly import Nightly, parse_at
from relay.settings import ROOT, Settings, get_settings
from relay.stack import APP_PYTHON, Stack, StackError, fail, port_is_free
from relay.train import ensure_model


class _Stopping:
    """SIGTERM/SIGHUP become one KeyboardInterrupt; later ones are ignored while stopping.

    Python runs a signal handler between any two bytecodes of the main thread — also inside a
    garbage-collector or weakref callback, where an exception is printed ("Exception ignored
    in: …") and dropped. A SIGTERM that arrived there while Relay was starting was lost: the
    services came up and relay.run ran on (the intermittent supervisor test failure; its
    SIGUSR1 stack dump showed it). So the request is also kept, and `check` raises it again at
    the places relay.run waits: while the services start and in its loop.
    """

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.raised:
            self.raised = True
            raise KeyboardInterrupt

    def check(self) -> None:
        """KeyboardInterrupt if a stop was asked for (its first raising may have been lost)."""
        if self.raised:
            raise KeyboardInterrupt


def _busy_ports(settings: Settings, replicas: int) -> list[str]:
    ports = [("API", settings.api_port), ("action server", settings.actions_port),
             ("Rasa", settings.rasa_port)]
    if settings.dev_mail:
        ports.append(("development mail", settings.dev_mail_port))
    if replicas:
        from relay.cluster import replica_ports

        ports += replica_ports(settings, replicas)
    return [f"{name} port {port}" for name, port in ports
            if not port_is_free(settings.host, port)]


def build_stack(settings: Settings, replicas: int) -> Stack:
    """The single-process stack, or the cluster's (database prepared first)."""
    if not replicas:
        return Stack(settings, ensure_model())
    from relay import cluster

    print(f"==> cluster of {replicas}: PostgreSQL, Redis, HAProxy", flush=True)
    return cluster.build_stack(cluster.prepare(settings), ensure_model(), replicas)


def migrate(settings: Settings) -> None:
    """Bring the CRM's database to the latest schema (a no-op when it is there). `make run`
    migrates in its setup; without this, `python -m relay.run` on a new database said "Relay
    is up" and answered every message with a 500 (no such table)."""
    from crm_store.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as error:
        raise StackError(f"the database could not be migrated: {error}") from error


def main(argv: list[str] | None = None) -> None:
    """Run until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m relay.run", description=__doc__)
    parser.add_argument("--replicas", type=int, default=0, metavar="N",
                        help="run the cluster: N Rasa servers, action servers and API workers")
    args = parser.parse_args(argv)
    # Before anything is started: a SIGTERM while starting must stop what already runs.
    stopping = _Stopping()
    # `kill -USR1 <pid>` prints where every thread is (a start or stop that seems stuck).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGHUP, stopping)
    signal.signal(signal.SIGINT, stopping)
    settings = get_settings()
    try:
        nightly_at = parse_at(settings.nightly_at)
    except ValueError as error:
        fail(str(error))
    busy = _busy_ports(settings, args.replicas)
    if busy:
        fail(
            f"{', '.join(busy)} already in use on {settings.host} — is Relay running already? "
            "Set RELAY_API_PORT / RELAY_ACTIONS_PORT / RELAY_RASA_PORT / RELAY_DEV_MAIL_PORT "
            "(and for the cluster RELAY_REPLICA_PORT_BASE, RELAY_REDIS_PORT) to use others."
        )
    stack: Stack | None = None
    try:
        stack = build_stack(settings, args.replicas)
        settings = stack.settings
        migrate(settings)
        print("==> starting (Rasa needs about a minute to load)", flush=True)
        stopping.check()
        ready = stack.start(check=stopping.check)
    except StackError as error:
        fail(str(error))
    except KeyboardInterrupt:
        if stack is not None:
            stack.stop()
        return
    assert stack is not None  # built, or the function returned above
    password = settings.demo_agent_password if settings.env == "development" else "(set)"
    login = f"{settings.demo_agent_email} / {password}"
    example = channels.WEB.conversation_id("0" * 32)
    chat = f"POST {settings.api_url}/chat/{example}/messages  {{\"text\": \"hi\"}}"
    dev_mail = (f"\n  Mail sent (dev only)   {settings.api_url}/dev/mail"
                if settings.dev_mail and settings.env == "development" else "")
    for name, seconds in ready.items():
        print(f"    {name:<10} ready after {seconds:5.1f} s", flush=True)
    print(
        f"""
Relay is up.
  Website widget demo    {settings.api_url}/
  Agent console          {settings.api_url}/console  (agent {login})
  CRM API (OpenAPI)      {settings.api_url}/docs{dev_mail}
  Chat API (as widget)   {chat}
  Logs                   {stack.log_dir}/
Press Ctrl-C to stop.""",
        flush=True,
    )
    # One nightly run for the whole cluster: it works on the shared database.
    nightly = Nightly(nightly_at, python=str(APP_PYTHON), env=stack.env,
                      cwd=ROOT, log_path=stack.log_dir / "nightly.log")
    try:
        while True:
            stopping.check()
            nightly.tick()
            for line in stack.heal():
                print(f"relay: {line}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # Stop before printing: with `make run | tee`, Ctrl-C also ends tee, and a print to the
        # closed pipe must not leave the services running.
        stopping.raised = True
        nightly.stop()
        stack.stop()
    with contextlib.suppress(OSError):
        print("\n==> Relay stopped", flush=True)


if __name__ == "__main__":
    main()
