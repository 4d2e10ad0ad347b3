"""The supervisor's nightly jobs (relay.nightly): when they start, that they run, in order."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from relay.nightly import JOBS, Nightly, parse_at

DAY = date(2026, 3, 2)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def test_parse_at() -> None:
    assert parse_at("03:30") == time(3, 30, tzinfo=UTC)
    assert parse_at("") is None
    with pytest.raises(ValueError, match="HH:MM"):
        parse_at("half past three")


def test_jobs_run_once_a_day_after_their_time(tmp_path: Path) -> None:
    out = tmp_path / "ran.txt"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.argv[1] + chr(10))"
    nightly = Nightly(time(3, 30, tzinfo=UTC), python=sys.executable, env={}, cwd=tmp_path,
                      log_path=tmp_path / "logs" / "nightly.log", today=DAY,
                      jobs=[("first", ("-c", script, "gaps")),
                            ("second", ("-c", script, "segments"))])
    # Started on DAY: that day's run is not made up for; the next day's is due at 03:30.
    assert not nightly.tick(at(23, 59))
    next_day = date(2026, 3, 3)
    assert not nightly.tick(at(3, 29, next_day))
    assert nightly.tick(at(3, 30, next_day))
    nightly.wait(timeout=60)
    assert out.read_text().splitlines() == ["gaps", "segments"]
    assert not nightly.tick(at(12, 0, next_day))  # once a day
    log = (tmp_path / "logs" / "nightly.log").read_text()
    assert "first exited with 0" in log and "second exited with 0" in log


def test_off_means_never(tmp_path: Path) -> None:
    nightly = Nightly(None, python=sys.executable, env={}, cwd=tmp_path,
                      log_path=tmp_path / "n.log", today=DAY)
    assert not nightly.tick(at(5, 0, date(2026, 3, 9)))


def test_the_real_jobs_are_the_gap_miner_and_the_segments() -> None:
    assert [args[1] for _, args in JOBS] == ["crm_store.gaps", "crm_store.segments"]
