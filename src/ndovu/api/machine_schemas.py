"""/v1/machines request and response shapes: hosts registered for the machines provider.

A read never carries the private key: ``MachineRead`` has no field for it, so even a
view that put one in would have it dropped by FastAPI's response model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ndovu.api.schemas import Links

MAX_KEY_CHARS = 16384


class MachineCreateBody(BaseModel):
    """A host ndovu may put one node on, reached over SSH with ``privateKey``."""

    # a misspelt field is refused, never silently dropped
    model_config = ConfigDict(extra="forbid")

    name: StrictStr | None = Field(
        default=None, description="letters, digits, '_', '-', single spaces; at most 80; "
                                  "default: made from the address (10.0.0.5 → 10-0-0-5)")
    address: StrictStr = Field(description="an IPv4 or IPv6 address, or a host name")
    port: StrictInt = Field(default=22, description="the SSH port, 1-65535")
    user: StrictStr = Field(default="root",
                            description="who ndovu logs in as (root, or a user with "
                                        "password-less sudo)")
    privateKey: StrictStr = Field(
        max_length=MAX_KEY_CHARS, repr=False,
        description="an unencrypted OpenSSH or PEM private key; kept by the server, never "
                    "shown again")
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict,
                                               description="e.g. {\"rack\": \"r1\"}")


class MachineRead(BaseModel):
    name: str
    address: str
    port: int
    user: str
    labels: dict[str, str]
    hostKeyFingerprint: str | None = Field(
        description="SHA256 of the SSH host key pinned at first contact; null before")
    status: str = Field(description="free, or assigned (a node is on it)")
    cluster: str | None
    node: str | None
    createdAt: str | None
    links: Links


class MachineList(BaseModel):
    machines: list[MachineRead]
    free: int = Field(description="how many machines carry no node")
