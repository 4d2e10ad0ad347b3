"""Errors raised by the repository functions; the API turns each into its 4xx deliberately.

NotFoundError -> 404, DuplicateEmailError -> 409, InvalidValue -> 422. Any other exception,
ValueError included, is a bug and answers 500: a catch-all would make bugs look like client
errors.
"""

from __future__ import annotations


class NotFoundError(LookupError):
    """The referenced row does not exist."""

    def __init__(self, entity: str, entity_id: object) -> None:
        shown = str(entity_id)
        if len(shown) > 64:  # an id that long is no id: say so without echoing all of it
            shown = shown[:40] + "…"
        super().__init__(f"{entity} {shown} does not exist.")
        self.entity = entity
        self.entity_id = entity_id


class DuplicateEmailError(ValueError):
    """A customer with that email already exists."""

    def __init__(self, email: str, existing_id: int) -> None:
        super().__init__(f"A customer with email {email} already exists (id {existing_id}).")
        self.email = email
        self.existing_id = existing_id


class InvalidValue(ValueError):
    """A value a caller gave is not acceptable; the message says which and why."""
