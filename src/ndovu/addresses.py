"""IPv4 address blocks: a network's ``ipBlocks`` (BDE's IpBlock, both ends included).

Pure functions shared by the API (validation, free-address counting) and the providers
(allocation inside a cluster's network), so both count the same addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence

Block = tuple[str, str]  # (beginIp, endIp), both included


def parse_ipv4(text: object) -> ipaddress.IPv4Address | None:
    """The address, or None when ``text`` is not a dotted IPv4 address."""
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        return None


def bounds(block: Block) -> tuple[int, int]:
    return int(ipaddress.IPv4Address(block[0])), int(ipaddress.IPv4Address(block[1]))


def size(blocks: Iterable[Block]) -> int:
    return sum(end - begin + 1 for begin, end in map(bounds, blocks))


def contains(blocks: Iterable[Block], address: str) -> bool:
    found = parse_ipv4(address)
    if found is None:
        return False
    value = int(found)
    return any(begin <= value <= end for begin, end in map(bounds, blocks))


def addresses(blocks: Sequence[Block]) -> Iterator[ipaddress.IPv4Address]:
    """Every address of the blocks, in the order given."""
    for begin, end in map(bounds, blocks):
        for value in range(begin, end + 1):
            yield ipaddress.IPv4Address(value)


def overlap(a: Block, b: Block) -> bool:
    (a0, a1), (b0, b1) = bounds(a), bounds(b)
    return a0 <= b1 and b0 <= a1


def inside(block: Block, network: ipaddress.IPv4Network) -> bool:
    begin, end = bounds(block)
    return int(network.network_address) <= begin and end <= int(network.broadcast_address)


def free_blocks(blocks: Sequence[Block], used: Iterable[str]) -> list[Block]:
    """The blocks minus the ``used`` addresses, as blocks (BDE's freeIpBlocks)."""
    taken = sorted({int(a) for a in (parse_ipv4(u) for u in used) if a is not None})
    free: list[Block] = []
    for begin, end in map(bounds, blocks):
        start = begin
        for value in taken:
            if value < start or value > end:
                continue
            if value > start:
                free.append(_block(start, value - 1))
            start = value + 1
        if start <= end:
            free.append(_block(start, end))
    return free


def as_blocks(used: Iterable[str]) -> list[Block]:
    """Addresses merged into consecutive blocks (BDE's assignedIpBlocks)."""
    values = sorted({int(a) for a in (parse_ipv4(u) for u in used) if a is not None})
    merged: list[Block] = []
    start = previous = None
    for value in values:
        if start is None:
            start = previous = value
        elif value == previous + 1:
            previous = value
        else:
            merged.append(_block(start, previous))
            start = previous = value
    if start is not None:
        merged.append(_block(start, previous))
    return merged


def describe(blocks: Iterable[Block]) -> str:
    return ", ".join(b if b == e else f"{b}-{e}" for b, e in blocks) or "no addresses"


def _block(begin: int, end: int) -> Block:
    return str(ipaddress.IPv4Address(begin)), str(ipaddress.IPv4Address(end))
