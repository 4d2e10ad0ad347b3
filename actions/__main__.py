"""Start the action server: `python -m actions` (loads the FAQ index once, then serves)."""

from __future__ import annotations

import logging
import sys

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

from actions import runtime
from knowledge.runtime.engine import IndexMissing
from relay.settings import get_settings

logger = logging.getLogger("actions")


def main() -> None:
    """Build the services, register the actions and serve them in this one process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    try:
        runtime.install(runtime.build(settings))
    except IndexMissing as error:  # no index, or one built with another model or format
        sys.exit(f"action server: {error} (`make build-index` does it)")
    except FileNotFoundError as error:
        sys.exit(f"action server: {error} — build the FAQ index with `make build-index`")
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])
    # single_process: the index and encoder loaded above serve every request; Sanic's worker
    # processes would each re-import and lose them.
    app.run(
        host=settings.host,
        port=settings.actions_port,
        single_process=True,
        access_log=False,
        motd=False,
    )


if __name__ == "__main__":
    main()
