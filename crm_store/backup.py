"""`python -m crm_store.backup {dump,restore} FILE`: back up and restore Relay's database.

One database holds the CRM and Rasa's conversations (table `events`), so one backup holds both
and they stay consistent with each other.

* SQLite: SQLite's online backup (the `.backup` of the sqlite3 shell, through Python's
  sqlite3.Connection.backup): a consistent copy while Relay keeps writing (WAL mode).
* PostgreSQL: `pg_dump --format=custom` (a consistent snapshot while Relay runs), restored with
  `pg_restore --clean --if-exists --no-owner` into the database of RELAY_DATABASE_URL.

Restore into a stopped Relay (`make run` not running), then start it: Rasa and the API read
everything from the database on start. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from crm_store.db import _sqlite_file


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for a SQLAlchemy PostgreSQL URL (password in the environment)."""
    parsed = make_url(url)
    args = ["--host", parsed.host or "localhost", "--port", str(parsed.port or 5432),
            "--username", parsed.username or "postgres", "--dbname", parsed.database or ""]
    return args, ({"PGPASSWORD": parsed.password} if parsed.password else {})


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise SystemExit(f"crm_store.backup: {name} not found (apt-get install postgresql-client)")
    return found


def dump(*, url: str, path: Path) -> Path:
    """Write a consistent backup of the database at url to path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = _sqlite_file(url)
    if source is not None:
        with sqlite3.connect(source) as live, sqlite3.connect(path) as copy:
            live.backup(copy)
        return path
    args, env = _pg_args(url)
    subprocess.run([_tool("pg_dump"), "--format=custom", "--file", str(path), *args],
                   check=True, env={**_base_env(), **env})
    return path


def restore(*, url: str, path: Path) -> None:
    """Replace the database at url with the backup at path."""
    if not path.exists():
        raise SystemExit(f"crm_store.backup: no backup at {path}")
    target = _sqlite_file(url)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as backup, sqlite3.connect(target) as live:
            backup.backup(live)
        return
    args, env = _pg_args(url)
    subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", *args,
                    str(path)], check=True, env={**_base_env(), **env})


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def main(argv: list[str] | None = None) -> None:
    """Dump or restore RELAY_DATABASE_URL."""
    from relay.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m crm_store.backup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("dump", "restore"))
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    url = get_settings().database_url
    if args.action == "dump":
        print(f"crm_store.backup: {dump(url=url, path=args.file)} written")
    else:
        restore(url=url, path=args.file)
        print(f"crm_store.backup: {url.split('@')[-1]} restored from {args.file}")


if __name__ == "__main__":
    main()
