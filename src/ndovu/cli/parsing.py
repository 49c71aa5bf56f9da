"""Parsing of ``GROUP=VALUE`` and ``BEGIN-END`` options; a bad value is a usage error (exit
code 2)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import typer

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _split(raw: str, form: str, example: str) -> tuple[str, str]:
    group, sep, value = raw.partition("=")
    group, value = group.strip(), value.strip()
    if not sep or not _GROUP.match(group) or not value:
        raise typer.BadParameter(f"expected {form} (e.g. {example}), got {raw!r}")
    return group, value


def parse_instances(values: list[str] | None) -> dict[str, int]:
    """``["zookeeper=3"]`` → ``{"zookeeper": 3}``; N is a non-negative integer."""
    counts: dict[str, int] = {}
    for raw in values or []:
        group, value = _split(raw, "GROUP=N", "zookeeper=3")
        if not value.isdigit():
            raise typer.BadParameter(
                f"expected GROUP=N with N a whole number (e.g. zookeeper=3), got {raw!r}")
        counts[group] = int(value)
    return counts


def parse_instance_types(values: list[str] | None) -> dict[str, str]:
    """``["zookeeper=SMALL"]`` → ``{"zookeeper": "SMALL"}``."""
    return dict(_split(raw, "GROUP=TYPE", "zookeeper=MEDIUM") for raw in values or [])


def check_instances(values: list[str] | None) -> list[str] | None:
    """Typer callback: reject bad ``--instances`` before anything is sent."""
    parse_instances(values)
    return values


def check_instance_types(values: list[str] | None) -> list[str] | None:
    """Typer callback: reject bad ``--instance-type`` before anything is sent."""
    parse_instance_types(values)
    return values


def json_object(value: str | None, option: str, example: str) -> dict[str, Any] | None:
    """``value`` of ``option`` as a JSON object (None when not given); BadParameter
    saying what is wrong otherwise."""
    if value is None:
        return None
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not valid JSON: {exc.msg} at column "
                                 f"{exc.colno}") from None
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{option} must be a JSON object, e.g. {example}")
    return loaded


def parse_settings(values: list[str] | None, configuration: str | None) -> dict[str, Any]:
    """``--configuration JSON`` then ``--set SECTION.KEY=VALUE`` (which wins) → the
    configuration body, e.g. ``spark.worker.cores=2`` → ``{"spark": {"worker.cores": "2"}}``.
    Values stay strings; the server knows each key's type and converts or refuses."""
    merged: dict[str, Any] = {}
    example = '\'{"spark": {"worker.cores": 2}}\''
    loaded = json_object(configuration or None, "--configuration", example)
    if loaded is not None:
        if not all(isinstance(v, dict) for v in loaded.values()):
            raise typer.BadParameter(f"--configuration must be a JSON object of sections, "
                                     f"e.g. {example}")
        merged = {k: dict(v) for k, v in loaded.items()}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise typer.BadParameter(
                f"expected SECTION.KEY=VALUE (e.g. zookeeper.tickTime=3000), got {raw!r}")
        merged.setdefault(section, {})[name] = value.strip()
    return merged


def check_settings(values: list[str] | None) -> list[str] | None:
    """Typer callback: reject a bad ``--set`` before anything is sent."""
    parse_settings(values, None)
    return values


BLOCK_FORM = "BEGIN-END (e.g. 127.73.0.1-127.73.0.50)"


def _ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        return None


def parse_blocks(values: list[str] | None) -> list[dict[str, str]]:
    """``["127.73.0.1-127.73.0.50"]`` → ``[{"beginIp": ..., "endIp": ...}]``; a single
    address is one block of one (``127.73.0.5-127.73.0.5``), so it must be written so."""
    blocks = []
    for raw in values or []:
        begin, sep, end = raw.partition("-")
        first, last = _ipv4(begin), _ipv4(end)
        if not sep or first is None or last is None:
            raise typer.BadParameter(f"expected {BLOCK_FORM}, two IPv4 addresses, got {raw!r}")
        blocks.append({"beginIp": first, "endIp": last})
    return blocks


def check_blocks(values: list[str] | None) -> list[str] | None:
    """Typer callback: reject a bad ``--block`` before anything is sent."""
    parse_blocks(values)
    return values


def dns_fields(values: list[str] | None) -> dict[str, str]:
    """``--dns`` given once or twice → ``{"dns1": ..., "dns2": ...}`` (a network has two)."""
    if len(values or []) > 2:
        raise typer.BadParameter(f"a network has at most two DNS servers, got {len(values or [])}")
    return {f"dns{i}": value for i, value in enumerate(values or [], start=1)}


def check_dns(values: list[str] | None) -> list[str] | None:
    """Typer callback: reject a third ``--dns`` before anything is sent."""
    dns_fields(values)
    return values
