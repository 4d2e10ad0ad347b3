"""Agent login: email + password → a signed bearer token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from crm_store import users
from crm_store.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from crm_store.api.security import TOKEN_MAX_AGE_SECONDS, issue_user_token
from crm_store.schemas import LoginIn, PrincipalOut, TokenOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenOut)
def login(body: LoginIn, session: SessionDep, settings: SettingsDep) -> TokenOut:
    """Exchange an agent's email and password for a bearer token."""
    user = users.authenticate(session=session, email=body.email, password=body.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Wrong email or password, or the account is disabled."
        )
    return TokenOut(
        access_token=issue_user_token(settings, user),
        expires_in=TOKEN_MAX_AGE_SECONDS,
        role=user.role,
    )


@router.get("/me", response_model=PrincipalOut)
def me(principal: CurrentPrincipal) -> PrincipalOut:
    """Who the bearer token belongs to."""
    return PrincipalOut(
        kind=principal.kind, name=principal.name, role=principal.role, user_id=principal.user_id
    )
