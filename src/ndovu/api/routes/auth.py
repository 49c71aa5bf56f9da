"""/v1/auth and /v1/users: tokens and accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ndovu import accounts
from ndovu.api.auth import Admin, CurrentUser, bearer_token
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.errors import ForbiddenError

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


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


class UserRead(BaseModel):
    name: str
    isAdmin: bool


@router.post("/v1/auth/tokens", status_code=201, response_model=TokenRead)
def create_token(body: Credentials,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    principal = accounts.authenticate(ctx.store, body.username, body.password)
    token, expires = accounts.issue_token(ctx.store, principal, accounts.BEARER)
    return {"token": token, "expiresAt": expires, "user": principal.name,
            "isAdmin": principal.is_admin}


@router.delete("/v1/auth/tokens/current", status_code=204)
def revoke_current_token(request: Request, _: CurrentUser,
                         ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    accounts.revoke_token(ctx.store, bearer_token(request) or "")
    return Response(status_code=204)


@router.get("/v1/auth/whoami", response_model=UserRead)
def whoami(user: CurrentUser) -> dict[str, Any]:
    return {"name": user.name, "isAdmin": user.is_admin}


class UserList(BaseModel):
    users: list[UserRead]


@router.get("/v1/users", response_model=UserList)
def list_users(_: Admin, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return {"users": [{"name": u.name, "isAdmin": u.is_admin}
                      for u in accounts.list_users(ctx.store)]}


@router.post("/v1/users", status_code=201, response_model=UserRead)
def create_user(body: UserCreate, _: Admin,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    accounts.create_user(ctx.store, body.name, body.password, is_admin=body.isAdmin)
    return {"name": body.name, "isAdmin": body.isAdmin}


@router.put("/v1/users/{name}/password", status_code=204)
def change_password(name: str, body: PasswordChange, user: CurrentUser,
                    ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    if name != user.name and not user.is_admin:
        raise ForbiddenError("you may change only your own password")
    accounts.set_password(ctx.store, name, body.password)
    return Response(status_code=204)
