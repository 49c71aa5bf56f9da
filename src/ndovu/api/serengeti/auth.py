"""BDE's form login (Spring Security's ``j_spring_security_check``) and logout.

A login answers 200 with the session cookie ``JSESSIONID`` (the name BDE's clients keep);
the cookie holds a random session token, kept in the store only as its SHA-256, good for
12 hours or until logout. Wrong credentials get /v1's one generic 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response

from ndovu import accounts
from ndovu.api.auth import SESSION_COOKIE, client_address
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, THROTTLED, UNAUTHENTICATED
from ndovu.api.serengeti.models import BdeLoginRead, BdeLogoutRead

router = APIRouter(tags=["serengeti"], responses=ERROR_RESPONSES)

COOKIE_PATH = "/serengeti"


# one function at several paths: each route gets its own operation id, as OpenAPI
# requires unique ones (FastAPI's generated ids would only differ by accident of the path)
@router.post("/serengeti/j_spring_security_check", operation_id="serengeti_login",
             response_model=BdeLoginRead, responses={**UNAUTHENTICATED, **THROTTLED})
@router.post("/serengeti/api/j_spring_security_check", operation_id="serengeti_api_login",
             response_model=BdeLoginRead, responses={**UNAUTHENTICATED, **THROTTLED})
def login(request: Request, response: Response, ctx: Annotated[ApiContext, Depends(context)],
          j_username: Annotated[str, Form(max_length=64)],
          j_password: Annotated[str, Form(max_length=1024)]) -> dict[str, Any]:
    """Form fields ``j_username``, ``j_password`` → the ``JSESSIONID`` cookie."""
    principal = accounts.authenticate(ctx.store, j_username, j_password,
                                      client_address(request))
    request.state.principal = principal  # the audit log names who logged in
    token, _ = accounts.issue_token(ctx.store, principal, accounts.SESSION)
    # HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it;
    # Secure over HTTPS: never sent in clear
    response.set_cookie(SESSION_COOKIE, token, httponly=True, path=COOKIE_PATH,
                        samesite="strict", secure=ctx.secure_cookies)
    return {"user": principal.name, "isAdmin": principal.is_admin}


# POST only: a GET that changes state can be triggered by any page the user opens (an
# image pointing here would log them out); a GET answers 405 naming POST
@router.post("/serengeti/j_spring_security_logout", operation_id="serengeti_logout",
             response_model=BdeLogoutRead)
@router.post("/serengeti/api/j_spring_security_logout", operation_id="serengeti_api_logout",
             response_model=BdeLogoutRead)
def logout(request: Request, response: Response,
           ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Ends the session (its token stops working at once); 200 with or without one."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.revoke_token(ctx.store, token)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True,
                           samesite="strict", secure=ctx.secure_cookies)
    return {"loggedOut": True}
