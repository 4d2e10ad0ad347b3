"""`python -m actions` without a FAQ index: one line saying how to build it, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from relay.settings import ROOT
from tests.conftest import RelayStack, new_conversation_id


def test_a_missing_index_is_one_sentence_naming_the_fix(tmp_path: Path) -> None:
    env = dict(os.environ, RELAY_DATA_DIR=str(tmp_path), RELAY_INDEX_DIR=str(tmp_path / "none"),
               RELAY_ACTIONS_PORT="9")
    result = subprocess.run([sys.executable, "-m", "actions"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("action server: no FAQ index in ")
    assert "make build-index" in last and "Traceback" not in result.stderr


@pytest.mark.integration
def test_only_rasa_may_run_actions(relay_stack: RelayStack) -> None:
    """A forged /webhook call (read someone's cases, change an address) is refused; Rasa's own
    calls carry the token (issue 15, #9)."""
    settings = relay_stack.settings
    call = {"next_action": "action_list_cases", "sender_id": "web-forged", "version": "3.6.21",
            "domain": {}, "tracker": {"sender_id": "web-forged", "slots": {"customer_id": 1},
                                      "latest_message": {}, "events": [], "active_loop": {}}}
    wrong = httpx.post(f"{settings.actions_url}/webhook", json=call, timeout=30,
                       headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401
    assert httpx.post(f"{settings.actions_url}/webhook", json=call, timeout=30).status_code == 401
    assert httpx.get(f"{settings.actions_url}/actions", timeout=30).status_code == 401
    assert httpx.get(f"{settings.actions_url}/health", timeout=30).status_code == 200
    allowed = httpx.get(f"{settings.actions_url}/actions", timeout=30,
                        headers={"Authorization": f"Bearer {settings.actions_token}"})
    assert allowed.status_code == 200
    assert relay_stack.say(new_conversation_id(), "hello")  # Rasa's calls still get through
