"""`python -m relay.run` (what `make run` calls after setup): start Relay and keep it up.

Starts the API, the action server and Rasa (and the Telegram bridge when a token is set),
waits until each answers, prints where to talk to the bot, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import time
from types import FrameType

from relay.nightly import Nightly, parse_at
from relay.settings import ROOT, get_settings
from relay.stack import APP_PYTHON, Stack, StackError, fail, port_is_free
from relay.train import ensure_model


def main() -> None:
    """Run until interrupted."""
    settings = get_settings()
    try:
        nightly_at = parse_at(settings.nightly_at)
    except ValueError as error:
        fail(str(error))
    busy = [
        f"{name} port {port}"
        for name, port in (
            ("API", settings.api_port),
            ("action server", settings.actions_port),
            ("Rasa", settings.rasa_port),
        )
        if not port_is_free(settings.host, port)
    ]
    if busy:
        fail(
            f"{', '.join(busy)} already in use on {settings.host} — is Relay running already? "
            "Set RELAY_API_PORT / RELAY_ACTIONS_PORT / RELAY_RASA_PORT to use others."
        )
    stack = Stack(settings, ensure_model())
    print(
        "==> starting API, action server and Rasa (Rasa needs about a minute to load)", flush=True
    )
    try:
        ready = stack.start()
    except StackError as error:
        fail(str(error))
    except KeyboardInterrupt:
        stack.stop()
        return
    password = settings.demo_agent_password if settings.env == "development" else "(set)"
    login = f"{settings.demo_agent_email} / {password}"
    chat = f"POST {settings.api_url}/chat/web-{'0' * 32}/messages  {{\"text\": \"hi\"}}"
    for name, seconds in ready.items():
        print(f"    {name:<8} ready after {seconds:5.1f} s", flush=True)
    print(
        f"""
Relay is up.
  Website widget demo    {settings.api_url}/
  Agent console          {settings.api_url}/console  (agent {login})
  CRM API (OpenAPI)      {settings.api_url}/docs
  Chat API (as widget)   {chat}
  Logs                   {stack.log_dir}/
Press Ctrl-C to stop.""",
        flush=True,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    nightly = Nightly(nightly_at, python=str(APP_PYTHON), env=stack.env,
                      cwd=ROOT, log_path=stack.log_dir / "nightly.log")
    try:
        while True:
            nightly.tick()
            dead = stack.dead()
            if dead:
                names = ", ".join(f"{s.name} (see {s.log_path})" for s in dead)
                stack.stop()
                fail(f"{names} stopped unexpectedly; the others were stopped too")
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        # Stop before printing: with `make run | tee`, Ctrl-C also ends tee, and a print to the
        # closed pipe must not leave the services running.
        nightly.stop()
        stack.stop()
    with contextlib.suppress(OSError):
        print("\n==> Relay stopped", flush=True)


if __name__ == "__main__":
    main()
