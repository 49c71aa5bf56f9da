"""The few CQL requests ndovu makes, over Cassandra's native protocol, version 1.

Written here rather than taken from a client library: Cassandra 1.2 speaks only version
1, which the maintained drivers treat as legacy; the server would carry a whole driver
(an event loop, connection pools, token maps) for a handshake and a query of the system
tables; and version 1 is small and fixed (Cassandra's ``native_protocol_v1.spec``). A
node answering STARTUP with READY has finished joining the ring: Cassandra 1.2 opens its
native port only once it is up and normal.

Every call opens its own connection and closes it: probes are rare and must not share
state between the engine's threads.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REQUEST_VERSION = 0x01
RESPONSE_VERSION = 0x81
ERROR, STARTUP, READY, QUERY, RESULT = 0x00, 0x01, 0x02, 0x07, 0x08
ROWS = 0x0002
CONSISTENCY_ONE = 0x0001
CQL_VERSION = "3.0.0"
MAX_FRAME_BYTES = 64 << 20

# column type ids (native_protocol_v1.spec, section 4.2.5.2)
_CUSTOM, _ASCII, _VARCHAR, _UUID, _TIMEUUID, _INET = 0x00, 0x01, 0x0D, 0x0C, 0x0F, 0x10
_LIST, _MAP, _SET = 0x20, 0x21, 0x22
_TEXT = (_ASCII, _VARCHAR)


class CqlError(ValueError):
    """The node answered with an ERROR frame."""

    def __init__(self, code: int, message: str):
        super().__init__(f"error 0x{code:04x}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class _Type:
    id: int
    items: tuple[_Type, ...] = ()  # a collection's element types


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def short(self) -> int:
        return self._take(">H")

    def int32(self) -> int:
        return self._take(">i")

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("a CQL answer is cut short")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return value

    def string(self) -> str:
        return self.raw(self.short()).decode("utf-8", "replace")

    def blob(self) -> bytes | None:
        size = self.int32()
        return None if size < 0 else self.raw(size)

    def option(self) -> _Type:
        kind = self.short()
        if kind == _CUSTOM:
            self.string()  # the Java class: read as bytes
            return _Type(kind)
        if kind in (_LIST, _SET):
            return _Type(kind, (self.option(),))
        if kind == _MAP:
            return _Type(kind, (self.option(), self.option()))
        return _Type(kind)


def _value(kind: _Type, data: bytes | None) -> Any:
    """A cell as Python: text, addresses and UUIDs as str, lists and sets of them as
    tuples; anything else as its bytes."""
    if data is None:
        return None
    if kind.id in _TEXT:
        return data.decode("utf-8", "replace")
    if kind.id == _INET:
        return str(ipaddress.ip_address(data))
    if kind.id in (_UUID, _TIMEUUID):
        return str(uuid.UUID(bytes=data))
    if kind.id in (_LIST, _SET):
        # version 1 collections: [short n] then n times [short length][bytes]
        reader = _Reader(data)
        return tuple(_value(kind.items[0], reader.raw(reader.short()))
                     for _ in range(reader.short()))
    return data


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 16))
        if not chunk:
            raise ConnectionError("the node closed the connection mid-answer")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Connection:
    """One native-protocol connection that has been through STARTUP."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def _request(self, opcode: int, body: bytes) -> tuple[int, _Reader]:
        header = struct.pack(">BBbBi", REQUEST_VERSION, 0, 0, opcode, len(body))
        self._sock.sendall(header + body)
        version, _, _, answer, size = struct.unpack(">BBbBi", _read_exactly(self._sock, 8))
        if version != RESPONSE_VERSION:
            raise ValueError(f"not a CQL native protocol v1 answer (version byte "
                             f"0x{version:02x})")
        if not 0 <= size <= MAX_FRAME_BYTES:
            raise ValueError(f"a CQL answer of {size} bytes is not one")
        reader = _Reader(_read_exactly(self._sock, size))
        if answer == ERROR:
            raise CqlError(reader.int32(), reader.string())
        return answer, reader

    def startup(self) -> None:
        name, value = b"CQL_VERSION", CQL_VERSION.encode()
        body = struct.pack(">HH", 1, len(name)) + name + struct.pack(">H", len(value)) + value
        answer, _ = self._request(STARTUP, body)
        if answer != READY:
            raise ValueError(f"the node answered STARTUP with opcode 0x{answer:02x}, not "
                             "READY")

    def query(self, cql: str) -> list[dict[str, Any]]:
        """The rows of ``cql``, read at consistency ONE, as column name -> value."""
        text = cql.encode()
        answer, reader = self._request(
            QUERY, struct.pack(">i", len(text)) + text + struct.pack(">H", CONSISTENCY_ONE))
        if answer != RESULT:
            raise ValueError(f"the node answered a QUERY with opcode 0x{answer:02x}")
        try:
            if reader.int32() != ROWS:
                return []
            flags, count = reader.int32(), reader.int32()
            shared = flags & 0x0001  # one keyspace and table for every column
            if shared:
                reader.string()
                reader.string()
            columns = []
            for _ in range(count):
                if not shared:
                    reader.string()
                    reader.string()
                columns.append((reader.string(), reader.option()))
            return [{name: _value(kind, reader.blob()) for name, kind in columns}
                    for _ in range(reader.int32())]
        except struct.error as exc:
            raise ValueError(f"a CQL answer is cut short: {exc}") from None


@contextmanager
def connect(host: str, port: int, timeout: float = 3.0) -> Iterator[Connection]:
    """A connection to ``host:port`` after a STARTUP the node answered READY; OSError or
    ValueError (CqlError for the node's own refusals) when it does not."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        connection = Connection(sock)
        connection.startup()
        yield connection
