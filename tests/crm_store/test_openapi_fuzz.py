"""Schemathesis against the CRM API's own OpenAPI document, on a real uvicorn and SQLite file.

Generated requests (valid and invalid) must never produce a server error or a response that
contradicts the schema; bad input must come back as a 4xx.
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
                "--checks",
                "not_a_server_error,status_code_conformance,response_schema_conformance",
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
