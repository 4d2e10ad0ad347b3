"""The action server's responses checked with one validator, built once, instead of per call.

Runs inside .venv-rasa (installed at start-up by the gateway channel, bot/rasa_channel.py).
Rasa 3.6 checks every custom action's response with `jsonschema.validate(result, spec)`, which
first validates the *schema* against the JSON Schema meta-schema, then builds a validator, on
every call: about 30 % of Rasa's CPU per FAQ turn. The schema is a constant, so this checks it
once and keeps the validator. The check itself is unchanged: same schema, same validator class,
the same best-matching error with Rasa's own message appended, so an invalid response is
refused exactly as before (tests/bot/test_rasa_parts.py).

A valid response skips most of even that: the schema says each event is `oneOf` 23 kinds, so
jsonschema tried every kind on every event and built an error for each kind it was not (about
0.9 ms for a FAQ answer's response, twice per turn). The kinds are told apart by the constant
in their `event` field, so an event is valid exactly when it is valid for the kind it names:
`_valid` checks that one kind, and only a response it does not pass goes through the whole
schema, which then says why, as before.
"""

from __future__ import annotations

from collections.abc import Callable
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


@lru_cache(maxsize=1)
def _valid() -> Callable[[Any], bool] | None:
    """A check that passes exactly the responses the schema passes, reading each event's kind
    from its `event` field; None if the schema's event kinds are not told apart that way."""
    spec = RemoteAction.action_response_format_spec()
    events = spec["properties"]["events"]
    item = events["items"]
    kinds = item.get("oneOf") or []
    names = [kind.get("properties", {}).get("event", {}).get("const") for kind in kinds]
    if not kinds or None in names or len(set(names)) != len(names) \
            or "event" not in item.get("required", ()):
        return None
    cls = validator_for(spec)
    # the response with every event checked only for what all kinds share
    shared = {key: value for key, value in item.items() if key != "oneOf"}
    outer = cls({**spec, "properties": {**spec["properties"],
                                        "events": {**events, "items": shared}}})
    by_name = {name: cls(kind) for name, kind in zip(names, kinds, strict=True)}

    def valid(result: Any) -> bool:
        if not outer.is_valid(result):
            return False
        for event in result.get("events") or ():
            kind = by_name.get(event["event"])  # `event` is a required string (shared)
            if kind is None or not kind.is_valid(event):
                return False
        return True

    return valid


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's RemoteAction._validate_action_result, with the validator built once."""
    valid = _valid()
    if valid is not None and valid(result):
        return True
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
