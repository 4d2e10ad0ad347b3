"""Agents, admins and viewers, and the service tokens machines use.

`python -m crm_store.users create-user EMAIL --name NAME [--role agent|admin|viewer]` (password
from RELAY_NEW_USER_PASSWORD or a prompt) and `python -m crm_store.users create-token NAME
[--role ...]` (prints the token once; only its hash is stored). `deactivate EMAIL`, `activate
EMAIL`, `sign-out EMAIL` (end every console and API session) and `revoke-token NAME` take access
away at once.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Collection
from datetime import timedelta

import bcrypt
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crm_store import audit
from crm_store.customers import normalise_email
from crm_store.enums import Role
from crm_store.errors import InvalidValue, NotFoundError
from crm_store.models import ROLES, ServiceToken, User, UserSession, utcnow

ENTITY = "user"  # in the audit log
CLI = audit.service_actor("users-cli")


def hash_password(password: str) -> str:
    """A bcrypt hash of password."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt()).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Whether password matches the bcrypt hash."""
    try:
        return bcrypt.checkpw(password.encode()[:72], password_hash.encode())
    except ValueError:
        return False


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a service token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def get(*, session: Session, user_id: int) -> User | None:
    """The user with that id, or None."""
    return session.get(User, user_id)


def list_active(*, session: Session, roles: Collection[str]) -> list[User]:
    """Active users with one of roles, by name."""
    return list(session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(list(roles))).order_by(User.name)
    ).all())


def get_by_email(*, session: Session, email: str) -> User | None:
    """The user with that email, or None."""
    try:
        normalised = normalise_email(email, internal=True)
    except ValueError:
        return None
    return session.scalars(select(User).where(User.email == normalised)).first()


def create_user(
    *, session: Session, email: str, name: str, password: str, role: str = Role.AGENT
) -> User:
    """A new active user with a bcrypt-hashed password."""
    if role not in ROLES:
        raise InvalidValue(f"role must be one of {', '.join(ROLES)}.")
    if len(password) < 8:
        raise InvalidValue("The password must be at least 8 characters long.")
    user = User(
        email=normalise_email(email, internal=True),
        name=name,
        password_hash=hash_password(password),
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def ensure_user(
    *, session: Session, email: str, name: str, password: str, role: str = Role.AGENT
) -> User:
    """The user with that email, created if missing (existing passwords are left alone)."""
    user = get_by_email(session=session, email=email)
    if user is not None:
        return user
    return create_user(session=session, email=email, name=name, password=password, role=role)


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = get_by_email(session=session, email=email)
    if user is None or not user.active:
        # Spend the same time as a real check so timing does not reveal which emails exist.
        verify_password(password, "$2b$12$" + "a" * 53)
        return None
    return user if verify_password(password, user.password_hash) else None


def create_service_token(
    *, session: Session, name: str, role: str = Role.AGENT
) -> tuple[ServiceToken, str]:
    """(row, plaintext token): the plaintext is shown once and only its hash is stored."""
    if role not in ROLES:
        raise InvalidValue(f"role must be one of {', '.join(ROLES)}.")
    token = secrets.token_urlsafe(32)
    row = ServiceToken(name=name, token_hash=hash_token(token), role=role)
    session.add(row)
    session.flush()
    return row, token


def find_service_token(*, session: Session, token: str) -> ServiceToken | None:
    """The active service token row matching token, or None."""
    digest = hash_token(token)
    row = session.scalars(select(ServiceToken).where(ServiceToken.token_hash == digest)).first()
    if row is None or not row.active or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def start_session(*, session: Session, user_id: int, kind: str, lifetime: timedelta,
                  parent_token: str | None = None) -> str:
    """A new login for user_id; returns its token (shown once: only the hash is stored).

    With parent_token (a live session of the same user), the new one ends with it and never
    outlives it: the token a console page carries dies with the console login.
    """
    expires_at, parent_id = utcnow() + lifetime, None
    if parent_token is not None:
        parent = _live_session(session, parent_token)
        if parent is None or parent.user_id != user_id:
            raise ValueError("the parent session is not a live session of this user")
        expires_at, parent_id = min(expires_at, parent.expires_at), parent.id
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user_id, token_hash=hash_token(token), kind=kind,
                            expires_at=expires_at, parent_id=parent_id))
    session.flush()
    return token


def _live_session(session: Session, token: str) -> UserSession | None:
    row = session.scalars(select(UserSession).where(
        UserSession.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row


def session_user(*, session: Session, token: str, kind: str) -> User | None:
    """The active user of a live (not revoked, not expired) session of this kind, or None."""
    row = _live_session(session, token)
    if row is None or row.kind != kind:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def end_session(*, session: Session, token: str) -> bool:
    """Revoke the session with this token (log out) and the tokens handed out under it; True
    if there was a live one."""
    row = session.scalars(select(UserSession).where(
        UserSession.token_hash == hash_token(token))).first()
    if row is None:
        return False
    result = session.execute(
        update(UserSession)
        .where(or_(UserSession.id == row.id, UserSession.parent_id == row.id),
               UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def end_all_sessions(*, session: Session, user_id: int) -> int:
    """Revoke every live session of a user (signed out everywhere); how many there were."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_active(*, session: Session, user_id: int, active: bool, actor: str) -> User:
    """Activate or deactivate a user, audited; deactivating also ends all their sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("User", user_id)
    before = audit.snapshot(user)
    user.active = active
    if not active:
        end_all_sessions(session=session, user_id=user_id)
    session.flush()
    audit.record_change(session=session, actor=actor, action="activate" if active else
                        "deactivate", entity=ENTITY, row=user, before=before)
    return user


def revoke_service_token(*, session: Session, name: str, actor: str) -> ServiceToken:
    """Deactivate the service token with this name, audited; NotFoundError if there is none."""
    row = session.scalars(select(ServiceToken).where(ServiceToken.name == name)).first()
    if row is None:
        raise NotFoundError("Service token", name)
    before = audit.snapshot(row)
    row.active = False
    session.flush()
    audit.record_change(session=session, actor=actor, action="revoke", entity="service_token",
                        row=row, before=before)
    return row


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.users", description=__doc__)
    parser.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    sub = parser.add_subparsers(dest="command", required=True)
    user = sub.add_parser("create-user", help="add an agent, admin or viewer")
    user.add_argument("email")
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=ROLES, default=Role.AGENT)
    token = sub.add_parser("create-token", help="add a service token and print it once")
    token.add_argument("name")
    token.add_argument("--role", choices=ROLES, default=Role.AGENT)
    for command, text in (("deactivate", "disable a user and end all their sessions"),
                          ("activate", "enable a user again"),
                          ("sign-out", "end all of a user's sessions (console and API)")):
        sub.add_parser(command, help=text).add_argument("email")
    sub.add_parser("revoke-token", help="disable a service token").add_argument("name")
    args = parser.parse_args(argv)

    from crm_store.db import make_engine, make_session_factory, session_scope

    url = args.url
    if not url:
        from relay.settings import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            if args.command == "create-user":
                password = os.environ.get("RELAY_NEW_USER_PASSWORD") or getpass.getpass()
                if get_by_email(session=session, email=args.email) is not None:
                    print(f"{args.email} already exists.", file=sys.stderr)
                    return 2
                try:
                    created = create_user(
                        session=session,
                        email=args.email,
                        name=args.name,
                        password=password,
                        role=args.role,
                    )
                except ValueError as exc:
                    print(exc, file=sys.stderr)
                    return 2
                print(f"created {args.role} {created.email} (id {created.id})")
            elif args.command in ("deactivate", "activate", "sign-out"):
                target = get_by_email(session=session, email=args.email)
                if target is None:
                    print(f"there is no user {args.email}.", file=sys.stderr)
                    return 2
                if args.command == "sign-out":
                    ended = end_all_sessions(session=session, user_id=target.id)
                    print(f"ended {ended} session(s) of {target.email}")
                else:
                    set_active(session=session, user_id=target.id,
                               active=args.command == "activate", actor=CLI)
                    print(f"{args.command}d {target.email}")
            elif args.command == "revoke-token":
                try:
                    revoke_service_token(session=session, name=args.name, actor=CLI)
                except NotFoundError:
                    print(f"there is no service token {args.name}.", file=sys.stderr)
                    return 2
                print(f"revoked service token {args.name}")
            else:
                if session.scalars(
                    select(ServiceToken).where(ServiceToken.name == args.name)
                ).first():
                    print(f"a service token named {args.name} already exists.", file=sys.stderr)
                    return 2
                _, plaintext = create_service_token(session=session, name=args.name, role=args.role)
                print(plaintext)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
