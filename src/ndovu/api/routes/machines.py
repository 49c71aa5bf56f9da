"""/v1/machines: the hosts an operator registered for the machines provider (administrators
only).

A machine is added with an SSH private key, which is checked (it must parse, and not be
encrypted: the server logs in unattended), stored, and never shown again: no read, error
or log line carries it. Nothing runs in the background: a create answers 201 with the
machine, a delete 204.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from typing import Annotated, Any
from urllib.parse import quote

import asyncssh
from fastapi import APIRouter, Depends, Response
from sqlalchemy.exc import IntegrityError

from ndovu import placement
from ndovu.api.auth import require_admin
from ndovu.api.deps import ApiContext, context
from ndovu.api.machine_schemas import MachineCreateBody, MachineList, MachineRead
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.errors import ConflictError, SpecError
from ndovu.store import machines as inventory
from ndovu.store.models import Machine

router = APIRouter(prefix="/v1", tags=["machines"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_admin)])

Ctx = Annotated[ApiContext, Depends(context)]

MACHINES = "/v1/machines"
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# POSIX's portable user names (no leading '-'), at most 32 characters like useradd's
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62})")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9_.-]{0,63}")
MAX_LABELS = 32


# -- checking what was sent ----------------------------------------------------------


def check_address(value: str) -> str:
    """An IP address (normalised) or a host name (lower-cased)."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text.rstrip(".").lower()
    labels = name.split(".")
    if (0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit()):
        return name
    raise SpecError(f"address: {value!r} is neither an IPv4 or IPv6 address nor a host name",
                    field="address", hint="e.g. 10.0.0.5, fd00::5 or node5.example.com")


def default_name(address: str) -> str:
    """A machine name made from its address: 10.0.0.5 → 10-0-0-5."""
    return re.sub(r"[^\w-]+", "-", address).strip("-")[:placement.MAX_NAME] or "machine"


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise SpecError(f"port: {port} is not a TCP port; give 1 to 65535 (SSH: 22)",
                        field="port")
    return port


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise SpecError(f"user: {user!r} is not a valid user name: use letters, digits, "
                        "'_', '.' and '-', starting with a letter or '_', at most 32 "
                        "characters", field="user", hint="e.g. root or ubuntu")
    return user


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise SpecError(f"labels: a machine has at most {MAX_LABELS} labels", field="labels")
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise SpecError(f"labels: {key!r} is not a valid label name: use letters, "
                            "digits, '_', '.' and '-', starting with a letter or digit, at "
                            "most 63 characters", field=f"labels.{key}")
        if not _LABEL_VALUE.fullmatch(value):
            raise SpecError(f"labels.{key}: {value!r} is not a valid label value: use "
                            "letters, digits, '_', '.' and '-', at most 63 characters",
                            field=f"labels.{key}")
    return dict(labels)


def check_private_key(text: str) -> str:
    """The key as sent, once it parses as an unencrypted private key. The error never
    quotes the key nor asyncssh's words about it."""
    try:
        asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        if "passphrase" in str(exc).lower() or "ENCRYPTED" in text:
            raise SpecError(
                "privateKey: the key is encrypted; ndovu logs in unattended and needs it "
                "without a passphrase", field="privateKey",
                hint="make an unencrypted copy (ssh-keygen -p -N '' -f COPY) or a key of "
                     "its own for ndovu") from None
        raise SpecError("privateKey: this is not an OpenSSH or PEM private key",
                        field="privateKey",
                        hint="send the whole text of the key file (the one without .pub, "
                             "e.g. ~/.ssh/id_ed25519), not the public key") from None
    return text.strip() + "\n"


# -- reading -------------------------------------------------------------------------


def host_key_fingerprint(host_key: str | None) -> str | None:
    """``SHA256:…`` of an OpenSSH public key line (as ``ssh-keygen -l`` prints it)."""
    if not host_key:
        return None
    parts = host_key.split()
    blob_text = parts[1] if len(parts) > 1 else parts[0]
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except (binascii.Error, ValueError):
        blob = host_key.encode()
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def machine_read(row: Machine) -> dict[str, Any]:
    # built field by field: the private key has no field here
    return {
        "name": row.name,
        "address": row.address,
        "port": row.port,
        "user": row.user,
        "labels": dict(row.labels or {}),
        "hostKeyFingerprint": host_key_fingerprint(row.host_key),
        "status": "free" if row.node_name is None else "assigned",
        "cluster": row.cluster_name,
        "node": row.node_name,
        "createdAt": row.created_at.isoformat() if row.created_at else None,
        "links": {"self": f"{MACHINES}/{quote(row.name)}",
                  "cluster": f"/v1/clusters/{quote(row.cluster_name)}"
                  if row.cluster_name else None},
    }


# -- routes --------------------------------------------------------------------------


@router.get("/machines", response_model=MachineList)
def list_machines(ctx: Ctx) -> dict[str, Any]:
    """Every registered machine, by name, with the node on it if any."""
    with ctx.store.session() as s:
        return {"machines": [machine_read(m) for m in inventory.list_machines(s)],
                "free": inventory.free_machines(s)}


@router.post("/machines", status_code=201, response_model=MachineRead)
def add_machine(body: MachineCreateBody, response: Response, ctx: Ctx) -> dict[str, Any]:
    """Register a host; a duplicate name or address is refused (409), bad input (422)."""
    address = check_address(body.address)
    name = placement.check_name(body.name if body.name is not None
                                else default_name(address), "machine")
    values = {"port": check_port(body.port), "user": check_user(body.user),
              "labels": check_labels(body.labels),
              "private_key": check_private_key(body.privateKey)}
    try:
        with ctx.store.session() as s:
            read = machine_read(inventory.add_machine(s, name=name, address=address,
                                                      **values))
    except IntegrityError as exc:  # lost a race with a concurrent add of the same one
        raise ConflictError(f"a machine named {name!r} or at {address!r} is registered "
                            "already", field="name") from exc
    response.headers["Location"] = f"{MACHINES}/{quote(name)}"
    return read


@router.get("/machines/{name}", response_model=MachineRead)
def show_machine(name: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.store.session() as s:
        return machine_read(inventory.get_machine(s, name))


@router.delete("/machines/{name}", status_code=204)
def remove_machine(name: str, ctx: Ctx) -> Response:
    """Refused (409, naming the cluster) while a node is on the machine."""
    with ctx.store.session() as s:
        inventory.delete_machine(s, name)
    return Response(status_code=204)
