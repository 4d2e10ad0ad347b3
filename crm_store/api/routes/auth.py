"""Agent login: email + password → a signed bearer token (throttled after repeated failures)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel

from crm_store.api.auth import (
    TOKEN_MAX_AGE_SECONDS,
    LoginRefused,
    Refusal,
    issue_user_token,
    log_in,
)
from crm_store.api.deps import BearerDep, CurrentPrincipal, SessionDep, SettingsDep
from crm_store.login_throttle import retry_message, throttle_for
from crm_store.schemas import LoginIn, PrincipalOut, TokenOut
from crm_store.users import end_session

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
    try:
        user = log_in(session=session, throttle=throttle_for(request.app.state),
                      email=body.email, password=body.password,
                      address=request.client.host if request.client else None)
    except LoginRefused as refused:
        if refused.reason == Refusal.THROTTLED:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                retry_message(refused.retry_after),
                                headers={"Retry-After": str(refused.retry_after)}) from None
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Wrong email or password, or the account is disabled."
        ) from None
    return TokenOut(
        access_token=issue_user_token(session=session, user=user),
        expires_in=TOKEN_MAX_AGE_SECONDS,
        role=user.role,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def logout(credentials: BearerDep, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """End this bearer token's session: the token stops working at once (users' tokens only)."""
    if principal.kind != "user":
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            "Service tokens are revoked by an admin, not logged out.")
    end_session(session=session, token=credentials.credentials)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=PrincipalOut)
def me(principal: CurrentPrincipal) -> PrincipalOut:
    """Who the bearer token belongs to."""
    return PrincipalOut(
        kind=principal.kind, name=principal.name, role=principal.role, user_id=principal.user_id
    )
