"""/v1/auth and /v1/users: tokens and accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ndovu import accounts
from ndovu.api.auth import Admin, CurrentUser, bearer_token, client_address
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, FORBIDDEN, THROTTLED, UNAUTHENTICATED
from ndovu.errors import ForbiddenError, SpecError

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)
# a token needed; an administrator's, or the answer is 403
ADMIN_ONLY = {**UNAUTHENTICATED, **FORBIDDEN}


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenRead(BaseModel):
    token: str
    tokenType: str = "bearer"
    expiresAt: datetime
    user: str
    isAdmin: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    isAdmin: bool = False


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=1024)
    currentPassword: str | None = Field(
        default=None, max_length=1024,
        description="required to change your own password (a token alone does not do)")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disabled: bool = Field(description="true: no more logins, every token revoked")


class UserRead(BaseModel):
    name: str
    isAdmin: bool
    disabled: bool = False


@router.post("/v1/auth/tokens", status_code=201, response_model=TokenRead,
             responses={**UNAUTHENTICATED, **THROTTLED})
def create_token(body: Credentials, request: Request,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    principal = accounts.authenticate(ctx.store, body.username, body.password,
                                      client_address(request))
    request.state.principal = principal  # the audit log names who logged in
    token, expires = accounts.issue_token(ctx.store, principal, accounts.BEARER)
    return {"token": token, "expiresAt": expires, "user": principal.name,
            "isAdmin": principal.is_admin}


@router.delete("/v1/auth/tokens/current", status_code=204, responses=UNAUTHENTICATED)
def revoke_current_token(request: Request, _: CurrentUser,
                         ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    accounts.revoke_token(ctx.store, bearer_token(request) or "")
    return Response(status_code=204)


@router.get("/v1/auth/whoami", response_model=UserRead, responses=UNAUTHENTICATED)
def whoami(user: CurrentUser) -> dict[str, Any]:
    return {"name": user.name, "isAdmin": user.is_admin}


class UserList(BaseModel):
    users: list[UserRead]


@router.get("/v1/users", response_model=UserList, responses=ADMIN_ONLY)
def list_users(_: Admin, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return {"users": [{"name": u.name, "isAdmin": u.is_admin, "disabled": u.disabled}
                      for u in accounts.list_users(ctx.store)]}


@router.post("/v1/users", status_code=201, response_model=UserRead, responses=ADMIN_ONLY)
def create_user(body: UserCreate, _: Admin,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    accounts.create_user(ctx.store, body.name, body.password, is_admin=body.isAdmin)
    return {"name": body.name, "isAdmin": body.isAdmin}


@router.put("/v1/users/{name}/password", status_code=204,
            responses={**UNAUTHENTICATED, **FORBIDDEN, **THROTTLED})
def change_password(name: str, body: PasswordChange, user: CurrentUser, request: Request,
                    ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    """Your own password (with ``currentPassword``; your other tokens end, this one
    stays), or, for an administrator, anyone's (every token of theirs ends)."""
    if name != user.name:
        if not user.is_admin:
            raise ForbiddenError("you may change only your own password")
        accounts.set_password(ctx.store, name, body.password)
        return Response(status_code=204)
    if body.currentPassword is None:
        raise SpecError("currentPassword: give your current password to change it",
                        field="currentPassword")
    accounts.check_new_password(body.password, name)  # before the current one is tried
    accounts.check_current_password(ctx.store, user, body.currentPassword,
                                    client_address(request))
    accounts.set_password(ctx.store, name, body.password, keep_token=bearer_token(request))
    return Response(status_code=204)


@router.patch("/v1/users/{name}", response_model=UserRead, responses=ADMIN_ONLY)
def update_user(name: str, body: UserUpdate, admin: Admin,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Disable an account (no more logins, every token revoked) or enable it again."""
    user = accounts.set_disabled(ctx.store, name, body.disabled, by=admin)
    return {"name": user.name, "isAdmin": user.is_admin, "disabled": user.disabled}


@router.delete("/v1/users/{name}", status_code=204, responses=ADMIN_ONLY)
def delete_user(name: str, admin: Admin,
                ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    """Delete an account; its tokens die with it."""
    accounts.delete_user(ctx.store, name, by=admin)
    return Response(status_code=204)
