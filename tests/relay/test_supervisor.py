"""The supervisor (relay/stack.py, relay/run.py): a crashed process is restarted alone, and a
SIGTERM to `relay.run` while it is still starting stops everything it had started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from relay import run as run_module
from relay.settings import ROOT, Settings
from relay.stack import RESTART_DELAYS, Service, Stack
from tests.conftest import free_port


def _sleeper(name: str, log_dir: Path) -> Service:
    return Service(name, [sys.executable, "-c", "import time; time.sleep(600)"], "",
                   log_dir / f"{name}.log")


def test_a_crashed_service_is_restarted_alone_with_back_off(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key="k", service_token="t",
                        rasa_token="r")
    stack = Stack(settings, tmp_path / "model.tar.gz",
                  listed=[_sleeper("one", tmp_path), _sleeper("two", tmp_path)])
    stack.start(timeout=30)
    try:
        one, two = stack.service("one"), stack.service("two")
        steady = two.pid
        assert one.pid is not None
        os.kill(one.pid, signal.SIGKILL)
        one.process.wait(5)  # type: ignore[union-attr]
        now = time.monotonic()
        said = stack.heal(now)
        assert said and "restarting it in 1 s" in said[0]
        assert stack.heal(now + 0.5) == []  # still waiting out the back-off
        said = stack.heal(now + RESTART_DELAYS[0] + 0.1)
        assert said == [f"one restarted (pid {one.pid})"]
        assert one.exited() is None and two.pid == steady and two.exited() is None
        os.kill(one.pid, signal.SIGKILL)  # crashes again at once: waits longer
        one.process.wait(5)  # type: ignore[union-attr]
        later = time.monotonic()
        assert "in 2 s" in stack.heal(later)[0]
    finally:
        stack.stop()
    assert one.exited() is not None and two.exited() is not None


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_sigterm_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    # Its own database: relay.run migrates the one it is given, and the suite's PostgreSQL
    # database (RELAY_DATABASE_URL under relay.testrun) is the other tests'.
    env = dict(os.environ, RELAY_ENV="test", RELAY_DATA_DIR=str(tmp_path),
               RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.db'}",
               RELAY_API_PORT=str(free_port()), RELAY_RASA_PORT=str(free_port()),
               RELAY_ACTIONS_PORT=str(free_port()), RELAY_DEV_MAIL_PORT=str(free_port()),
               RELAY_SECRET_KEY="k",
               RELAY_SERVICE_TOKEN="t", RELAY_RASA_TOKEN="r",
               RELAY_INDEX_DIR=str(ROOT / "var" / "index"),
               RELAY_MODELS_DIR=str(ROOT / "var" / "models"))
    # Output to a file: a pipe nobody reads blocks the writer once it is full.
    output = tmp_path / "relay-run.out"
    with output.open("wb") as out:
        run = subprocess.Popen([sys.executable, "-m", "relay.run"], cwd=ROOT, env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(children) < 3 and time.monotonic() < deadline:  # API, actions, Rasa
            children = _children(run.pid)
            time.sleep(0.2)
        assert len(children) >= 3, "relay.run did not start its services"
        run.send_signal(signal.SIGTERM)  # Rasa needs far longer than this to load
        try:
            code = run.wait(60)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGUSR1)  # relay.run prints its threads' stacks
            time.sleep(2)
            raise AssertionError("relay.run did not stop within 60 s of SIGTERM; its output:\n"
                                 + output.read_text(errors="replace")[-6000:]) from None
        assert code == 0, output.read_text(errors="replace")[-3000:]
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "services left running"
    finally:
        if run.poll() is None:
            run.kill()
        for pid in children:  # never leave services on their ports after a failure
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def test_relay_run_migrates_a_new_database_and_leaves_a_current_one(tmp_path: Path) -> None:
    """`python -m relay.run` without `make run`'s setup: the tables exist before any service
    answers (they did not, and every message was a 500)."""
    from sqlalchemy import create_engine, inspect

    from relay.run import migrate

    settings = Settings(data_dir=tmp_path / "data")
    migrate(settings)
    engine = create_engine(settings.database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"inbox", "interactions", "conversations", "customers"} <= tables
    finally:
        engine.dispose()
    migrate(settings)  # at the latest revision already: nothing to do, no error


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_whose_interrupt_python_dropped_is_still_a_stop() -> None:
    """The SIGTERM of the intermittent failure above arrived inside a weakref callback of the
    garbage collector (SQLAlchemy's), where Python prints an exception and drops it; relay.run
    then started everything and ran on."""
    stopping = run_module._Stopping()

    class Collected:
        pass

    thing = Collected()
    # As the signal handler would run there: inside the callback of a collected object.
    watcher = weakref.ref(thing, lambda _ref: stopping(signal.SIGTERM, None))
    del thing  # the callback raises KeyboardInterrupt; Python ignores it and goes on
    assert watcher() is None and stopping.raised
    with pytest.raises(KeyboardInterrupt):
        stopping.check()


def test_the_wait_for_the_services_ends_when_the_check_raises(tmp_path: Path) -> None:
    """relay.run's wait while the services start calls its check between polls."""
    never = Service(name="never", command=[sys.executable, "-c", "import time; time.sleep(30)"],
                    ready_url="http://127.0.0.1:9/never", log_path=tmp_path / "never.log")
    stack = Stack(Settings(data_dir=tmp_path), tmp_path / "model.tar.gz", listed=[never])
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            stack.start(timeout=60, check=check)
    finally:
        stack.stop()
    assert time.monotonic() - started < 10 and len(calls) == 3
    assert never.exited() is not None
