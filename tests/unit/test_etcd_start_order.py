"""A new etcd cluster's members start one after another: each once the one before it
serves its peers (see EtcdRole._await_previous_member).

The previous member is a plain socket on this machine's loopback, so every case is
decided by what it answers and when, never by the clock."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ndovu.roles import etcd
from ndovu.roles.base import Member, RoleContext
from ndovu.roles.etcd import EtcdRole
from tests.engine_doubles import MemoryTransport

ROLE = EtcdRole()
MEMBERS = (Member("e-etcd-0", "etcd", 0, "127.0.0.1"), Member("e-etcd-1", "etcd", 1,
                                                                 "127.0.0.1"))
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]"


def context(member: Member) -> RoleContext:
    return RoleContext(cluster="e", node=member, transport=MemoryTransport(member.address),
                       members={"etcd": MEMBERS})


@pytest.fixture
def peer_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A free port that stands for the previous member's peer port; patient waits."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    monkeypatch.setattr(etcd, "PEER_PORT", port)
    monkeypatch.setattr(etcd, "BOOTSTRAP_TIMEOUT", 60.0)
    yield port


def listen(port: int) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    return server


def answer_once(server: socket.socket, release: threading.Event | None = None,
                order: list[str] | None = None,
                asked: threading.Event | None = None) -> threading.Thread:
    """Answer one request, once ``release`` is set (a member still bootstrapping holds
    the request until it serves)."""

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(4096)
            if asked is not None:
                asked.set()
            if release is not None:
                release.wait(60)
            if order is not None:
                order.append("served")
            connection.sendall(ANSWER)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_first_member_waits_for_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_call(*args: object, **kwargs: object) -> None:
        raise AssertionError("the first member asked a peer")

    monkeypatch.setattr(etcd, "_get", no_call)
    assert ROLE.admit(context(MEMBERS[0]), ["etcd"]) == ["etcd"]


def test_a_member_waits_until_the_one_before_it_serves(peer_port: int) -> None:
    order: list[str] = []
    release, asked = threading.Event(), threading.Event()
    with listen(peer_port) as server:
        serving = answer_once(server, release, order, asked)
        waiting = threading.Thread(target=lambda: (ROLE.admit(context(MEMBERS[1]), ["etcd"]),
                                                   order.append("started")))
        waiting.start()
        assert asked.wait(60)
        assert order == []  # held: the previous member is still bootstrapping
        release.set()
        waiting.join(60)
        serving.join(60)
    assert order == ["served", "started"]


def test_a_member_waits_while_the_one_before_it_does_not_listen_yet(
        peer_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real_get = etcd._get
    servers: list[socket.socket] = []

    def get(address: str, port: int, path: str, timeout: float) -> tuple[int, str]:
        try:
            result = real_get(address, port, path, timeout)
        except ConnectionRefusedError:
            asked.append("refused")
            if not servers:  # the previous member's process comes up now
                servers.append(listen(peer_port))
                answer_once(servers[0])
            raise
        asked.append(path)
        return result

    monkeypatch.setattr(etcd, "_get", get)
    ROLE.admit(context(MEMBERS[1]), ["etcd"])
    servers[0].close()
    assert asked == ["refused", "/members"]


def test_a_previous_member_that_never_answers_delays_the_start_but_does_not_stop_it(
        peer_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(etcd, "BOOTSTRAP_TIMEOUT", 0.05)
    with listen(peer_port):  # bound, never accepting: a member stuck in its bootstrap
        assert ROLE.admit(context(MEMBERS[1]), ["etcd"]) == ["etcd"]
    # nobody listening at all: it gives up as well
    assert ROLE.admit(context(MEMBERS[1]), ["etcd"]) == ["etcd"]
