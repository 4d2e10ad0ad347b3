"""Rasa sends its domain only to the actions that ask for it (domain.yml, send_domain).

Every other action call carries the tracker alone, so an action that reads the domain but does
not ask for it would see an empty one and quietly misbehave: asked in domain.yml is checked
here against what each action's code reads.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.forms import ValidationAction
from rasa_sdk.interfaces import Action

from actions.__main__ import RelayExecutor
from relay.settings import ROOT


def marked_actions() -> dict[str, bool]:
    """Each custom action of domain.yml, and whether it asks for the domain."""
    domain = yaml.safe_load(Path(ROOT / "domain.yml").read_text(encoding="utf-8"))
    marked: dict[str, bool] = {}
    for entry in domain["actions"]:
        if isinstance(entry, dict):
            (name, options), = entry.items()
            marked[name] = bool((options or {}).get("send_domain"))
        else:
            marked[entry] = False
    return marked


def registered() -> dict[str, Action]:
    """The actions the action server serves, by name."""
    executor = RelayExecutor()
    executor.register_package("actions")
    return {name: run.__self__ for name, run in executor.actions.items()}  # bound `run`s


def reads_domain(action: Action) -> bool:
    """Whether the action's code looks into the domain: rasa_sdk's validators read their
    form's slots from it; any other action that indexes or .get()s it."""
    if isinstance(action, ValidationAction):
        return True
    source = inspect.getsource(type(action))
    return "domain.get(" in source or "domain[" in source


def test_every_action_that_reads_the_domain_asks_for_it() -> None:
    marked = marked_actions()
    actions = registered()
    assert set(actions) == set(marked), "domain.yml and the action server list other actions"
    needing = {name for name, action in actions.items() if reads_domain(action)}
    assert {"validate_identify_form", "action_recover"} <= needing  # the check sees them
    assert needing == {name for name, asks in marked.items() if asks}


def test_the_endpoint_sends_the_domain_selectively() -> None:
    endpoints = yaml.safe_load(Path(ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["enable_selective_domain"] is True


@pytest.mark.parametrize("sent", [None, {"responses": {"utter_ask_email": []}}])
def test_an_action_gets_the_domain_of_its_own_call(sent: dict[str, Any] | None) -> None:
    executor = RelayExecutor()
    payload: dict[str, Any] = {"next_action": "action_recover"}
    if sent is not None:
        payload["domain"] = sent
    first = executor.update_and_return_domain(payload, "action_recover")
    assert first == (sent or {})
    # nothing is kept from one call for the next: a call without the domain gets none
    assert executor.update_and_return_domain({"next_action": "x"}, "x") == {}
