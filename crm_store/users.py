"""Agents, admins and viewers, and the service tokens machines use.

`python -m crm_store.users create-user EMAIL --name NAME [--role agent|admin|viewer]` (password
from RELAY_NEW_USER_PASSWORD or a prompt) and `python -m crm_store.users create-token NAME
[--role ...]` (prints the token once; only its hash is stored).
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

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.customers import normalise_email
from crm_store.enums import Role
from crm_store.errors import InvalidValue
from crm_store.models import ROLES, ServiceToken, User


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
