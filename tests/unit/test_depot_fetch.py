"""A node fetches depot software over HTTPS from a server whose certificate it cannot
check (self-signed): the SHA-256 it was given is what makes the download trustworthy, so
the right file installs and a changed one is refused."""

from __future__ import annotations

import hashlib
import http.server
import io
import ssl
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu import tls
from ndovu.errors import NodeBootstrapError
from ndovu.roles.software import install_tarball
from ndovu.spec.model import Tarball
from ndovu.transports.local import LocalTransport


def _tarball() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        data = b"#!/bin/sh\necho hello\n"
        info = tarfile.TarInfo("tool-1.0/bin/tool")
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def depot(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """An HTTPS server with a self-signed certificate serving one tarball at /tool.tgz."""
    body = _tarball()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    cert, key = tls.certificate_files("", "", True, tmp_path / "server", "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", body
    server.shutdown()
    server.server_close()


def test_the_published_file_installs_over_https_and_a_changed_one_is_refused(
        tmp_path: Path, depot: tuple[str, bytes]) -> None:
    url, body = depot
    (tmp_path / "node").mkdir()  # the local provider makes a node's folder first
    node = LocalTransport(tmp_path / "node", "127.0.0.1")
    right = Tarball("tool.tgz", hashlib.sha256(body).hexdigest(), len(body))
    home = install_tarball(node, right, url, node="n-0", role="tool")
    assert (Path(home) / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho hello\n"

    changed = Tarball("tool.tgz", hashlib.sha256(b"what the catalog published").hexdigest(),
                      len(body))
    with pytest.raises(NodeBootstrapError) as refused:
        install_tarball(node, changed, url, node="n-0", role="tool")
    assert "the file changed on the server or in transit" in refused.value.message
