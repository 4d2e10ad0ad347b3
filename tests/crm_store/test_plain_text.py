"""What Relay keeps of the text people send (crm_store/plain_text.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_store import conversations, interactions, plain_text
from crm_store.models import Interaction


@pytest.mark.parametrize(("sent", "kept"), [
    ("how much is pro\x00\x07\x1b[31m", "how much is pro[31m"),
    ("\u202eevE\u202c", "evE"),  # an override would show it as "Eve"
    ("a\u2066b\u2069c", "abc"),
    ("line one\r\nline two\rthree", "line one\nline two\nthree"),
    ("tab\there", "tab\there"),
    ("👩\u200d💻 and می\u200cخواهم", "👩\u200d💻 and می\u200cخواهم"),  # ZWJ and ZWNJ stay
    ("\u200fשלום\u200e ok", "\u200fשלום\u200e ok"),  # direction marks stay
    ("C1\x85\x9bcontrols", "C1controls"),
    ("", ""),
])
def test_clean(sent: str, kept: str) -> None:
    assert plain_text.clean(sent) == kept
    assert not plain_text.unwanted(plain_text.clean(sent))


def test_a_message_with_nul_is_stored_without_it(sessions: sessionmaker[Session]) -> None:
    """PostgreSQL refuses NUL in text: the whole message (an agent's reply, a note) failed."""
    with sessions.begin() as session:
        conversations.get_or_create(session=session, conversation_id="web-" + "c" * 32)
        row = interactions.record(session=session, conversation_id="web-" + "c" * 32,
                                  direction="outbound", author="agent",
                                  text="Here you go\x00\x1b[0m")
        row_id = row.id
    with sessions() as session:
        assert session.get_one(Interaction, row_id).text == "Here you go[0m"
