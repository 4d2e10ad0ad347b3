"""Schemathesis against the API's own OpenAPI document, on a real uvicorn and SQLite file.

Every route in the document (the CRM API, Insights, the widget's /chat routes) gets generated
requests, valid and hostile, in every phase: examples, coverage (boundary values of each
parameter), fuzzing, and the stateful phase (chains that create a record and then read and
change it). All checks run but the three below: no server error; status codes, content types,
headers (Allow on a 405 included) and bodies as documented; no route answers without its
credentials; nothing created is still served after it should not be.

Excluded, because the schema cannot say what the routes rightly refuse or accept:
* positive_data_acceptance — "valid" requests the routes refuse for reasons beyond the schema
  (an owner id that is no user, a date range over two years, an email that fails
  email-validator, a conversation id not of the widget's form): a 4xx with a sentence is the
  right answer.
* negative_data_rejection — pydantic reads "0" as a date (1970-01-01) and 0 as false; lax
  coercion is deliberate (forms and query strings), and never reaches the database unchecked.
* unsupported_method — a method a path does not have answers 422, not 405, where a sibling
  path with a parameter matches it (PATCH /customers/export is PATCH /customers/{customer_id}
  with the id "export"): Starlette's routing, not a fault of the data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crm_store.migrate import upgrade
from relay.settings import Settings
from relay.stack import api_service, child_env

pytestmark = pytest.mark.integration


def test_api_survives_generated_requests(tmp_path: Path) -> None:
    from tests.conftest import free_port

    settings = Settings(
        env="test",
        data_dir=tmp_path,
        api_port=free_port(),
        secret_key="k",
        service_token="fuzz-token",
        rasa_token="r",
    )
    upgrade(settings.database_url)
    api = api_service(settings, tmp_path)
    api.start(child_env(settings))
    try:
        for _ in range(60):
            if api.answers():
                break
            assert api.exited() is None, api.log_tail()
            subprocess.run(["sleep", "0.5"], check=True)
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{settings.api_url}/openapi.json",
                "-H",
                "Authorization: Bearer fuzz-token",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection,unsupported_method",
                "--max-examples",
                "15",
                "--seed",
                "7",
                "--workers",
                "1",
            ],
            cwd=tmp_path,  # schemathesis leaves a .schemathesis/ cache in its working directory
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        api.stop()
    assert result.returncode == 0, result.stdout[-6000:] + api.log_tail(40)
