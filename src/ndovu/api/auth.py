"""Who is calling: bearer tokens for /v1, the session cookie for /serengeti.

Every /v1 route but /v1/health and the token endpoint depends on ``require_user``. A
missing, unknown or expired credential is the same 401 with the same words, so nothing
tells a caller which of the three it was. The credential is looked up in the database on
every request (nothing is cached): a revoked token is refused at once, by every API
process sharing the database.

Each check is one async dependency that is also its OpenAPI security scheme (a subclass
of FastAPI's HTTPBearer or APIKeyCookie, whose own parsing it replaces, so the 401 has our
shape): no hop to the thread pool (see ``reading``) and no second dependency on every
request only to declare the scheme.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer

from ndovu import accounts
from ndovu.api.audit import caller
from ndovu.api.deps import app_context
from ndovu.errors import AuthError, ForbiddenError

SESSION_COOKIE = "JSESSIONID"  # BDE's (Tomcat's) cookie name, which its scripts expect


def client_address(request: Request) -> str:
    """The TCP peer's address (the server trusts no X-Forwarded-For: ndovu.server)."""
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _principal(request: Request, token: str | None, kind: str
                     ) -> accounts.Principal | None:
    principal = await app_context(request).read(accounts.resolve_token, token, kind)
    if principal is not None:
        request.state.principal = principal  # for the audit log
        caller.set(principal.name)  # for the commands that record who asked
    return principal


class BearerUser(HTTPBearer):
    """The caller of a /v1 route, by the bearer token it sends."""

    async def __call__(self, request: Request) -> accounts.Principal:  # type: ignore[override]
        principal = await _principal(request, bearer_token(request), accounts.BEARER)
        if principal is None:
            raise AuthError("authentication required: send 'Authorization: Bearer TOKEN'",
                            hint="get a token with POST /v1/auth/tokens or `ndovu login`")
        return principal


class SessionUser(APIKeyCookie):
    """The caller of a /serengeti/api route, by BDE's session cookie."""

    async def __call__(self, request: Request) -> accounts.Principal:  # type: ignore[override]
        principal = await _principal(request, request.cookies.get(SESSION_COOKIE),
                                     accounts.SESSION)
        if principal is None:
            raise AuthError("authentication required: log in at "
                            "/serengeti/j_spring_security_check first")
        return principal


# the scheme names are those of the FastAPI classes, as the OpenAPI document has always said
require_user = BearerUser(auto_error=False, scheme_name="HTTPBearer",
                          description="a token from POST /v1/auth/tokens")
require_session = SessionUser(name=SESSION_COOKIE, auto_error=False, scheme_name="APIKeyCookie",
                              description="the session of POST "
                                          "/serengeti/j_spring_security_check")


async def require_admin(principal: Annotated[accounts.Principal, Depends(require_user)]
                        ) -> accounts.Principal:
    if not principal.is_admin:
        raise ForbiddenError("only an administrator may do this")
    return principal


CurrentUser = Annotated[accounts.Principal, Depends(require_user)]
Admin = Annotated[accounts.Principal, Depends(require_admin)]
