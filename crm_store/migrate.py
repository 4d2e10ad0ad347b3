"""`python -m crm_store.migrate [--url URL]`: upgrade the CRM database to the latest revision."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Only compare tables in our metadata: Rasa's tracker store shares the database."""
    from crm_store.models import Base

    return not (type_ == "table" and reflected and name not in Base.metadata.tables)


def alembic_config(url: str) -> Config:
    """An Alembic config for url, independent of the current directory."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations on url up to revision (default: head); creates a SQLite file's dir."""
    from crm_store.db import _sqlite_file

    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.migrate", description=__doc__)
    parser.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    url = args.url
    if not url:
        from relay.settings import get_settings

        url = get_settings().database_url
    upgrade(url, args.revision)
    print(f"crm_store: database at {_display(url)} is at revision {args.revision}")


def _display(url: str) -> str:
    """url with any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
