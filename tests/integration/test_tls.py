"""HTTPS end to end: `ndovu server --tls-self-signed` makes and keeps its certificate and
logs its fingerprint; the CLI, given it with `--ca-file`, logs in and runs a real etcd
cluster's whole life over HTTPS; a certificate it was not given is refused with words
that say what to do; BDE's session cookie is Secure, HttpOnly and SameSite=Strict."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ndovu import tls
from tests.helpers import NDOVU, Server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "state", subnet="127.99.0.0/16", tls=True).start()
    yield srv
    srv.stop()


def _cli(server: Server, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
    env.update(XDG_CONFIG_HOME=str(home), NDOVU_URL=server.url, COLUMNS="200")
    return subprocess.run([str(NDOVU), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def test_the_whole_cli_flow_over_https_with_the_servers_own_certificate(
        server: Server, tmp_path: Path) -> None:
    assert server.ca_file is not None
    key = server.ca_file.with_name("server.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    fingerprint = tls.fingerprint(server.ca_file)
    assert f"SHA-256 fingerprint {fingerprint}" in server.log.read_text()

    password = tmp_path / "pw"
    password.write_text(server.admin_password + "\n")
    home = tmp_path / "home"
    # without the server's certificate: refused, saying what to do; nothing kept
    refused = _cli(server, home, "login", "--password-file", str(password))
    assert refused.returncode == 1
    assert "not trusted" in refused.stdout + refused.stderr
    assert "--ca-file" in refused.stdout + refused.stderr
    # another certificate than the server's: refused too
    other, _ = tls.certificate_files("", "", True, tmp_path / "other", "127.0.0.1")
    wrong = _cli(server, home, "login", "--password-file", str(password),
                 "--ca-file", str(other))
    assert wrong.returncode == 1 and "not trusted" in wrong.stdout + wrong.stderr
    assert not (home / "ndovu" / "credentials.json").exists()

    done = _cli(server, home, "login", "--password-file", str(password),
                "--ca-file", str(server.ca_file))
    assert done.returncode == 0, done.stdout + done.stderr
    # the CA is kept with the token: the next commands need no --ca-file
    created = _cli(server, home, "cluster", "create", "tls_etcd", "--type", "etcd", "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    assert json.loads(created.stdout)["status"] == "COMPLETED"
    listed = json.loads(_cli(server, home, "cluster", "list", "--json").stdout)
    assert [(c["name"], c["status"]) for c in listed["clusters"]] == [("tls_etcd", "RUNNING")]
    deleted = _cli(server, home, "cluster", "delete", "tls_etcd", "--json")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr

    # BDE's session cookie never travels in clear, nor from another site's page
    with httpx.Client(base_url=server.url, verify=server.verify, timeout=30) as bde:
        r = bde.post("/serengeti/j_spring_security_check", data={
            "j_username": "admin", "j_password": server.admin_password})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].lower()
        for attribute in ("secure", "httponly", "samesite=strict", "path=/serengeti"):
            assert attribute in cookie, cookie

    # plain HTTP to the HTTPS port gets no API answer
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url.replace("https://", "http://") + "/v1/health", timeout=5)

    # restarted, it serves the same certificate: clients that pinned it go on
    server.stop()
    server.start()
    assert tls.fingerprint(server.ca_file) == fingerprint
    assert _cli(server, home, "cluster", "list").returncode == 0
