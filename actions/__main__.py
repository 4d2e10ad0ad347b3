"""Start the action server: `python -m actions` (loads the FAQ index once, then serves).

Only Rasa may call it: every route but /health needs `Authorization: Bearer
<RELAY_ACTIONS_TOKEN>` (bot/endpoints.yml sends it), since an action call can read and change
any customer's record. rasa_sdk 3.21 has no token check of its own.
"""

from __future__ import annotations

import hmac
import logging
import sys
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import runtime
from knowledge.runtime.engine import IndexMissing
from relay.settings import get_settings

logger = logging.getLogger("actions")


OPEN_PATHS = frozenset({"/health"})


def require_token(app: Sanic, token: str) -> None:
    """Answer 401 to any request (but /health) without the bearer token."""
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return response.json({"error": "missing or wrong bearer token"}, status=401)


class RelayExecutor(ActionExecutor):
    """rasa_sdk's executor, for Rasa 3.6 with selective domain (bot/endpoints.yml).

    Rasa sends its domain only to the actions marked `send_domain` in domain.yml. rasa_sdk
    3.21 expects a newer Rasa that sends a digest of the domain instead, and refuses a call
    that has neither; Rasa 3.6 sends no digest. So an action gets the domain of its own call,
    or an empty one when it did not ask for it (tests/actions/test_selective_domain.py checks
    that every action that reads the domain asks for it).
    """

    def update_and_return_domain(
        self, payload: dict[str, Any], action_name: str
    ) -> dict[str, Any]:
        """The domain sent with this call, or {} when the action did not ask for it."""
        domain = payload.get("domain")
        return domain if isinstance(domain, dict) else {}


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
    executor = RelayExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])
    require_token(app, settings.actions_token)
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
