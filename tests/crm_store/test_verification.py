"""Customer verification (crm_store.verification): codes, tries, expiry, resends, website HMAC."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import audit, conversations, customers, verification
from crm_store.errors import InvalidValue
from crm_store.models import VerificationCode, utcnow
from crm_store.verification import Checked, Issued

SECRET = "server-secret"
BOT = audit.BOT


def grace(session: Session) -> int:
    return customers.create(session=session, actor="test", name="Grace Hopper",
                            email="grace@example.com", type="customer").id


def issue(session: Session, cid: str, email: str = "grace@example.com", **kw: object
          ) -> verification.IssueResult:
    return verification.issue_code(session=session, secret=SECRET, conversation_id=cid,
                                   email=email, actor=BOT, **kw)  # type: ignore[arg-type]


def check(session: Session, cid: str, code: str, **kw: object) -> verification.CheckResult:
    return verification.check_code(session=session, secret=SECRET, conversation_id=cid,
                                   code=code, actor=BOT, **kw)  # type: ignore[arg-type]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_the_right_code_verifies_the_conversation_and_its_channel_identity(
    session: Session
) -> None:
    grace_id = grace(session)
    cid = f"tg-{4242}"
    issued = issue(session, cid, "  GRACE@example.com ")
    assert issued.outcome == Issued.SENT and issued.email == "grace@example.com"
    assert issued.code is not None and len(issued.code) == 6 and issued.code.isdigit()
    stored = session.scalars(select(VerificationCode)).one()
    assert issued.code not in stored.code_hash and len(stored.code_hash) == 64
    assert verification.verified_customer_id(session=session, conversation_id=cid) is None
    assert check(session, cid, issued.code).outcome == Checked.OK
    assert verification.verified_customer_id(session=session, conversation_id=cid) == grace_id
    conversation = conversations.get_or_raise(session=session, conversation_id=cid)
    assert (conversation.customer_id, conversation.verified_by) == (grace_id, "email-code")
    [identity] = customers.get_or_raise(session=session, customer_id=grace_id).identities
    assert (identity.channel, identity.external_id) == ("telegram", "4242")
    assert identity.verified_at is not None
    assert check(session, cid, issued.code).outcome == Checked.NONE  # used once only
    actions = [r.action for r in reversed(audit.list_entries(
        session=session, entity="conversation", entity_id=cid))]
    assert actions == ["code_sent", "code_ok", "link_customer", "verify", "code_none"]
    assert all(issued.code not in str(r.after) for r in audit.list_entries(session=session))


def test_an_unknown_address_behaves_the_same_but_nothing_is_mailed_or_verified(
    session: Session
) -> None:
    issued = issue(session, "web-u", "nobody@example.com")
    assert (issued.outcome, issued.code) == (Issued.SENT, None)
    outcomes = [check(session, "web-u", f"{n:06d}") for n in range(5)]
    assert [o.outcome for o in outcomes] == [Checked.WRONG] * 4 + [Checked.LOCKED]
    assert [o.tries_left for o in outcomes] == [4, 3, 2, 1, 0]
    assert verification.verified_customer_id(session=session, conversation_id="web-u") is None


def test_five_wrong_tries_lock_the_code_even_for_the_right_one(session: Session) -> None:
    grace(session)
    issued = issue(session, "web-l")
    assert issued.code is not None
    for left in (4, 3, 2, 1):
        result = check(session, "web-l", wrong(issued.code))
        assert (result.outcome, result.tries_left) == (Checked.WRONG, left)
    assert check(session, "web-l", wrong(issued.code)).outcome == Checked.LOCKED
    assert check(session, "web-l", issued.code).outcome == Checked.LOCKED
    assert verification.verified_customer_id(session=session, conversation_id="web-l") is None


def test_a_code_expires_after_ten_minutes(session: Session) -> None:
    grace(session)
    start = utcnow()
    issued = issue(session, "web-e", now=start)
    assert issued.code is not None
    late = start + timedelta(minutes=10, seconds=1)
    assert check(session, "web-e", issued.code, now=late).outcome == Checked.EXPIRED


def test_resends_are_throttled_and_replace_the_old_code(session: Session) -> None:
    grace(session)
    start = utcnow()
    first = issue(session, "web-r", now=start)
    soon = issue(session, "web-r", resend=True, now=start + timedelta(seconds=10))
    assert (soon.outcome, soon.wait_seconds) == (Issued.WAIT, 20)
    later = issue(session, "web-r", resend=True, now=start + timedelta(seconds=31))
    assert later.outcome == Issued.SENT and later.code is not None and first.code is not None
    if first.code != later.code:
        assert check(session, "web-r", first.code, now=start + timedelta(seconds=32)
                     ).outcome == Checked.WRONG
    assert check(session, "web-r", later.code, now=start + timedelta(seconds=33)
                 ).outcome == Checked.OK


def test_an_address_gets_at_most_five_codes_an_hour_across_conversations(
    session: Session
) -> None:
    grace(session)
    start = utcnow()
    for n in range(5):
        assert issue(session, f"web-{n}", now=start + timedelta(minutes=n)).outcome == Issued.SENT
    assert issue(session, "web-9", now=start + timedelta(minutes=6)).outcome == Issued.LIMIT
    assert issue(session, "web-9", now=start + timedelta(minutes=61)).outcome == Issued.SENT


def test_a_bad_address_is_invalid(session: Session) -> None:
    with pytest.raises(InvalidValue):
        issue(session, "web-x", "not an address")


def test_the_website_hmac_is_checked_in_constant_time_and_needs_a_secret() -> None:
    good = verification.identity_hash("s3cret", "user-42")
    assert verification.identity_hash_ok("s3cret", "user-42", good.upper())
    assert not verification.identity_hash_ok("s3cret", "user-43", good)
    assert not verification.identity_hash_ok("other", "user-42", good)
    assert not verification.identity_hash_ok("", "user-42", verification.identity_hash("",
                                                                                       "user-42"))


def test_a_signed_in_visitor_is_found_by_id_or_created_and_cannot_claim_another_email(
    session: Session
) -> None:
    grace_id = grace(session)
    cid = f"web-{'a' * 32}"
    mallory = verification.verify_website_user(
        session=session, conversation_id=cid, external_id="site-7", actor="service:gateway",
        email="grace@example.com", name="Mallory")
    assert mallory.id != grace_id and mallory.email is None and mallory.name == "Mallory"
    assert verification.verified_customer_id(session=session, conversation_id=cid) == mallory.id
    customers.update(session=session, customer_id=grace_id, external_id="site-1", actor="test")
    other = f"web-{'b' * 32}"
    found = verification.verify_website_user(session=session, conversation_id=other,
                                             external_id="site-1", actor="service:gateway")
    assert found.id == grace_id
    with pytest.raises(InvalidValue, match="another customer"):
        verification.verify_website_user(session=session, conversation_id=cid,
                                         external_id="site-1", actor="service:gateway")
