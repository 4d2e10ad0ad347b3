"""Agent login: email + password → a signed bearer token (throttled after repeated failures)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from crm_store import users
from crm_store.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from crm_store.api.security import TOKEN_MAX_AGE_SECONDS, issue_user_token
from crm_store.login_throttle import retry_message, throttle_for
from crm_store.schemas import LoginIn, PrincipalOut, TokenOut

router = APIRouter(prefix="/auth", tags=["auth"])


class ThrottledOut(BaseModel):
    """A 429's body: when to try again."""

    detail: str


THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": ThrottledOut, "description": "Too many failed logins; see Retry-After"},
}


@router.post("/login", response_model=TokenOut, responses=THROTTLED)
def login(body: LoginIn, request: Request, session: SessionDep, settings: SettingsDep
          ) -> TokenOut:
    """Exchange an agent's email and password for a bearer token."""
    throttle = throttle_for(request.app.state)
    address = request.client.host if request.client else None
    wait = throttle.retry_after(email=body.email, address=address)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, retry_message(wait),
                            headers={"Retry-After": str(wait)})
    user = users.authenticate(session=session, email=body.email, password=body.password)
    if user is None:
        throttle.failed(email=body.email, address=address)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Wrong email or password, or the account is disabled."
        )
    throttle.succeeded(email=body.email)
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
