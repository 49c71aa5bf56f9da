"""Who is calling: bearer tokens for /v1, the session cookie for /serengeti.

Every /v1 route but /v1/health and the token endpoint depends on ``require_user``. A
missing, unknown or expired credential is the same 401 with the same words, so nothing
tells a caller which of the three it was.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from ndovu import accounts
from ndovu.api.deps import ApiContext, context
from ndovu.errors import AuthError, ForbiddenError

SESSION_COOKIE = "JSESSIONID"  # BDE's (Tomcat's) cookie name, which its scripts expect


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# declares the scheme in the OpenAPI document; the check itself is ours (one 401 shape)
_bearer = HTTPBearer(auto_error=False, description="a token from POST /v1/auth/tokens")


def require_user(request: Request, ctx: Annotated[ApiContext, Depends(context)],
                 _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
                 ) -> accounts.Principal:
    principal = accounts.resolve_token(ctx.store, bearer_token(request), accounts.BEARER)
    if principal is None:
        raise AuthError("authentication required: send 'Authorization: Bearer TOKEN'",
                        hint="get a token with POST /v1/auth/tokens or `ndovu login`")
    request.state.principal = principal
    return principal


_session = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                        description="the session of POST /serengeti/j_spring_security_check")


def require_session(request: Request, ctx: Annotated[ApiContext, Depends(context)],
                    _: Annotated[str | None, Depends(_session)] = None) -> accounts.Principal:
    principal = accounts.resolve_token(ctx.store, request.cookies.get(SESSION_COOKIE),
                                       accounts.SESSION)
    if principal is None:
        raise AuthError("authentication required: log in at "
                        "/serengeti/j_spring_security_check first")
    request.state.principal = principal
    return principal


def require_admin(principal: Annotated[accounts.Principal, Depends(require_user)]
                  ) -> accounts.Principal:
    if not principal.is_admin:
        raise ForbiddenError("only an administrator may do this")
    return principal


CurrentUser = Annotated[accounts.Principal, Depends(require_user)]
Admin = Annotated[accounts.Principal, Depends(require_admin)]
