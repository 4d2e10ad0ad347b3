"""The action server's responses checked with one validator, built once, instead of per call.

Runs inside .venv-rasa (installed at start-up by the gateway channel, bot/rasa_channel.py).
Rasa 3.6 checks every custom action's response with `jsonschema.validate(result, spec)`, which
first validates the *schema* against the JSON Schema meta-schema, then builds a validator, on
every call: about 30 % of Rasa's CPU per FAQ turn. The schema is a constant, so this checks it
once and keeps the validator. The check itself is unchanged: same schema, same validator class,
the same best-matching error with Rasa's own message appended, so an invalid response is
refused exactly as before (tests/bot/test_action_validation.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@lru_cache(maxsize=1)
def response_validator() -> Any:
    """The validator of Rasa's action-response schema (the schema is checked here, once)."""
    spec = RemoteAction.action_response_format_spec()
    cls = validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's RemoteAction._validate_action_result, with the validator built once."""
    error = best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from "
        f"the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Use the kept validator in every RemoteAction of this process (idempotent)."""
    RemoteAction._validate_action_result = validate_action_result


def installed() -> bool:
    """True once install() ran."""
    return RemoteAction._validate_action_result is validate_action_result
