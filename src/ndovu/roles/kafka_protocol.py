"""The one Kafka request ndovu makes: Metadata, version 0 (which Kafka 0.8 answers).

Written here rather than taken from a client library: the libraries that still speak
0.8's protocol are C extensions (librdkafka) or unmaintained, the server would carry a
Kafka client for one request, and the request is fixed and small (Kafka's protocol
guide, "MetadataRequest v0"). The answer gives each partition's leader, replicas and
in-sync replicas, and the brokers those partitions live on.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

METADATA_API_KEY = 3
MAX_ANSWER_BYTES = 64 << 20


@dataclass(frozen=True)
class Partition:
    topic: str
    id: int
    leader: int  # -1: none
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


@dataclass(frozen=True)
class Metadata:
    brokers: dict[int, tuple[str, int]]  # broker id -> (host, port)
    partitions: tuple[Partition, ...]


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str:
        size = self.int16()
        value = self.data[self.pos:self.pos + max(size, 0)].decode("utf-8", "replace")
        self.pos += max(size, 0)
        return value

    def int32s(self) -> tuple[int, ...]:
        return tuple(self.int32() for _ in range(self.int32()))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 16))
        if not chunk:
            raise ConnectionError("the broker closed the connection mid-answer")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def metadata(host: str, port: int, timeout: float = 3.0) -> Metadata:
    """Every topic's partitions as the broker at ``host:port`` knows them; OSError or
    ValueError when it does not answer properly."""
    client = b"ndovu"
    request = struct.pack(">hhih", METADATA_API_KEY, 0, 1, len(client)) + client
    request += struct.pack(">i", 0)  # no topics named: all of them
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _read_exactly(sock, 4))
        if not 4 <= size <= MAX_ANSWER_BYTES:
            raise ValueError(f"a Metadata answer of {size} bytes is not one")
        answer = _Reader(_read_exactly(sock, size))
    try:
        answer.int32()  # correlation id
        brokers = {}
        for _ in range(answer.int32()):
            broker = answer.int32()
            brokers[broker] = (answer.string(), answer.int32())
        partitions = []
        for _ in range(answer.int32()):
            answer.int16()  # the topic's error code
            topic = answer.string()
            for _ in range(answer.int32()):
                answer.int16()  # the partition's error code
                number, leader = answer.int32(), answer.int32()
                partitions.append(Partition(topic, number, leader, answer.int32s(),
                                            answer.int32s()))
    except struct.error as exc:
        raise ValueError(f"the broker's Metadata answer is cut short: {exc}") from None
    return Metadata(brokers, tuple(partitions))
