"""Customer repository functions on a real, migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from crm_store import customers
from crm_store.errors import DuplicateEmailError, NotFoundError


def test_normalise_email_lowercases_and_explains_errors() -> None:
    assert customers.normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    with pytest.raises(ValueError, match="not a valid email address"):
        customers.normalise_email("ada at example.com")
    assert customers.normalise_email("agent@relay.local", internal=True) == "agent@relay.local"
    with pytest.raises(ValueError, match="single letter"):
        customers.normalise_email("x@y.z")  # no real address ends in a one-letter domain
    assert customers.normalise_email("jo@mail.co") == "jo@mail.co"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+44 20 7183 8750", "+442071838750"), ("+1 (415) 555-0132", "+14155550132")],
)
def test_normalise_phone_to_e164(raw: str, expected: str) -> None:
    assert customers.normalise_phone(raw) == expected


def test_normalise_phone_rejects_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"start with \+ and the country code"):
        customers.normalise_phone("12345")
    with pytest.raises(ValueError, match="not a valid phone number"):
        customers.normalise_phone("+1 000 000 0000")
    assert customers.normalise_phone("020 7183 8750", default_region="GB") == "+442071838750"


def test_create_normalises_and_refuses_duplicate_email(session: Session) -> None:
    ada = customers.create(
        session=session,
        actor="test",
        name=" Ada ", email="ADA@example.com", phone="+44 20 7183 8750"
    )
    assert (ada.name, ada.email, ada.phone, ada.type) == (
        "Ada",
        "ada@example.com",
        "+442071838750",
        "visitor",
    )
    assert ada.created_at.tzinfo is not None
    with pytest.raises(DuplicateEmailError) as caught:
        customers.create(session=session, actor="test", email="ada@EXAMPLE.com")
    assert caught.value.existing_id == ada.id
    assert customers.get_by_email(session=session, email="Ada@Example.com") is ada


def test_anonymous_visitors_have_no_email(session: Session) -> None:
    first = customers.create(session=session, actor="test")
    second = customers.create(session=session, actor="test")
    assert first.email is None and second.email is None and first.id != second.id


def test_find_or_create_by_email_fills_blanks_only(session: Session) -> None:
    created = customers.find_or_create_by_email(
        session=session, actor="test", email="grace@example.com", name="Grace"
    )
    again = customers.find_or_create_by_email(
        session=session,
        actor="test",
        email="GRACE@example.com", name="Other", company="Cobol Corp", type="lead"
    )
    assert again.id == created.id
    assert (again.name, again.company, again.type) == ("Grace", "Cobol Corp", "lead")


def test_update_validates_and_checks_email(session: Session) -> None:
    a = customers.create(session=session, actor="test", email="a@example.com")
    customers.create(session=session, actor="test", email="b@example.com")
    with pytest.raises(DuplicateEmailError):
        customers.update(session=session, actor="test", customer_id=a.id, email="B@example.com")
    with pytest.raises(ValueError, match="no field"):
        customers.update(session=session, actor="test", customer_id=a.id, colour="red")
    with pytest.raises(NotFoundError):
        customers.update(session=session, actor="test", customer_id=9999, name="x")
    updated = customers.update(
        session=session, actor="test", customer_id=a.id, phone="+14155550132", type="customer"
    )
    assert (updated.phone, updated.type) == ("+14155550132", "customer")


def test_promote_never_demotes(session: Session) -> None:
    c = customers.create(session=session, actor="test", type="customer")
    customers.promote(session=session, customer_id=c.id, to_type="lead")
    assert c.type == "customer"


def test_search_filters_and_paginates(session: Session) -> None:
    for i in range(7):
        customers.create(
            session=session,
            actor="test",
            name=f"Person {i}",
            email=f"p{i}@example.com",
            company="Acme" if i % 2 else "Globex",
            phone=f"+1415555010{i}",
        )
    rows, total = customers.search(session=session, company="acme")
    assert total == 3 and all(r.company == "Acme" for r in rows)
    page, total = customers.search(session=session, limit=3, offset=3)
    assert total == 7 and len(page) == 3
    assert [r.name for r in customers.search(session=session, query="P5@EXAMPLE")[0]] == [
        "Person 5"
    ]
    assert [r.name for r in customers.search(session=session, phone="415 555 0103")[0]] == [
        "Person 3"
    ]


def test_search_text_is_literal_not_a_pattern(session: Session) -> None:
    """'%' and '_' are characters to find, not wildcards (issue 15, #9)."""
    customers.create(session=session, actor="test", name="100% Cotton", email="c@example.com")
    customers.create(session=session, actor="test", name="Plain", email="a_b@example.com")
    customers.create(session=session, actor="test", name="Other", email="axb@example.com")
    assert customers.search(session=session, query="%")[1] == 1
    assert [r.name for r in customers.search(session=session, name="0%")[0]] == ["100% Cotton"]
    assert [r.email for r in customers.search(session=session, query="a_b")[0]] == [
        "a_b@example.com"]
    assert customers.search(session=session, email="_")[1] == 1
    assert customers.search(session=session, query="\\")[1] == 0


def test_attach_identity_is_unique_per_channel_and_moves(session: Session) -> None:
    a = customers.create(session=session, actor="test", email="a@example.com")
    b = customers.create(session=session, actor="test", email="b@example.com")
    first = customers.attach_identity(
        session=session, customer_id=a.id, channel="telegram", external_id="42"
    )
    again = customers.attach_identity(
        session=session, customer_id=b.id, channel="telegram", external_id="42"
    )
    assert first.id == again.id and again.customer_id == b.id
    assert customers.find_by_identity(session=session, channel="telegram", external_id="42") is b
    with pytest.raises(ValueError, match="channel must be one of"):
        customers.attach_identity(session=session, customer_id=a.id, channel="fax", external_id="1")
