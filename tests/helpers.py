"""Test helpers: a real `ndovu server` subprocess, a REST client, process inspection."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.databases import database_url

REPO = Path(__file__).resolve().parent.parent
NDOVU = Path(sys.executable).parent / "ndovu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], *, timeout: float, what: str,
               interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def run_operation(client: httpx.Client, method: str, path: str, *, timeout: float = 300,
                  **body: object) -> dict:
    """A mutating call (its JSON body from ``body``) that must be accepted (202), followed
    to its operation's end."""
    r = client.request(method, path, **({"json": body} if body else {}))
    assert r.status_code == 202, r.text
    return wait_operation(client, r.json()["id"], timeout=timeout)


def run_completed(client: httpx.Client, method: str, path: str, *, timeout: float = 600,
                  **body: object) -> dict:
    """``run_operation`` that must end COMPLETED."""
    op = run_operation(client, method, path, timeout=timeout, **body)
    assert op["status"] == "COMPLETED", op
    return op


def processes_under(root: Path, marker: str = "") -> list[int]:
    """PIDs whose command line mentions ``root`` (and ``marker``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(root) in cmdline and marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


class Server:
    """A real `ndovu server` process with its own state directory, port and subnet."""

    def __init__(self, state_dir: Path, subnet: str, port: int | None = None,
                 catalog_dirs: tuple[Path, ...] = (), args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, host: str = "127.0.0.1",
                 tls: bool = False):
        self.state_dir = state_dir
        # more `ndovu server` options, and NDOVU_* settings (e.g. a crash point)
        self.args = (*args, "--tls-self-signed") if tls else args
        self.extra_env = env or {}
        self.catalog_dirs = catalog_dirs
        self.subnet = subnet
        self.host = host  # e.g. the test bed's bridge address, for its hosts to reach
        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        # HTTPS: the certificate the server makes on its first start is the CA to trust
        self.ca_file = state_dir / "tls" / "server.crt" if tls else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "server.log"
        self._token: str | None = None

    def start(self) -> Server:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
        # clusters at rest are not watched unless a test asks (NDOVU_OBSERVE_INTERVAL_S):
        # a look that lands mid-test would change the statuses a test of something else
        # reads after killing a process behind ndovu's back
        env.update({"NDOVU_LOCAL_SUBNET": self.subnet, "NDOVU_OBSERVE_INTERVAL_S": "0",
                    **self.extra_env})
        env.setdefault("NDOVU_DATABASE_URL", database_url(self.state_dir))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(NDOVU), "server", "--state-dir", str(self.state_dir),
                 "--host", self.host, "--port", str(self.port),
                 *(arg for d in self.catalog_dirs for arg in ("--catalog-dir", str(d))),
                 *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._healthy, timeout=60, what=f"ndovu server on {self.url}")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"ndovu server exited with {self.proc.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
        try:
            # whether it answers at all (its certificate is checked by the clients below)
            return httpx.get(f"{self.url}/v1/health", timeout=1,
                             verify=False).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def admin_password(self) -> str:
        """The initial admin password the server wrote on its first start."""
        return (self.state_dir / "initial-admin-password").read_text().strip()

    @property
    def token(self) -> str:
        """A bearer token for the admin (one per Server, made on first use)."""
        if self._token is None:
            self._token = login(self.url, "admin", self.admin_password,
                                verify=self.verify)
        return self._token

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client checks the server's certificate with."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def client(self, *, authenticated: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if authenticated else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers,
                            verify=self.verify)

    def cli_env(self) -> dict[str, str]:
        """Environment for running the `ndovu` CLI against this server, logged in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
        env.update(NDOVU_URL=self.url, NDOVU_TOKEN=self.token, COLUMNS="200")
        return env


def login(url: str, user: str, password: str, client: Any = None,
          verify: ssl.SSLContext | bool = True) -> str:
    """A bearer token from POST /v1/auth/tokens (``client``: e.g. a FastAPI TestClient)."""
    body = {"username": user, "password": password}
    if client is not None:
        r = client.post("/v1/auth/tokens", json=body)
    else:
        r = httpx.post(f"{url}/v1/auth/tokens", json=body, timeout=30, verify=verify)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def authenticate_test_client(client: Any, state_dir: Path) -> Any:
    """Log a FastAPI TestClient in as the initial admin; returns the same client."""
    password = (state_dir / "initial-admin-password").read_text().strip()
    client.headers["Authorization"] = f"Bearer {login('', 'admin', password, client)}"
    return client


def wait_operation(client: httpx.Client, op_id: int, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        op = client.get(f"/v1/operations/{op_id}").json()
        return op if op["status"] in {"COMPLETED", "FAILED", "ABANDONED"} else None

    return wait_until(done, timeout=timeout, what=f"operation {op_id} to finish", interval=0.3)


def node_pids(root: Path) -> list[int]:
    """Live processes of the nodes under ``root``: a server's state dir or one node's
    directory (every node process carries NDOVU_NODE_ROOT in its environment)."""
    root = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        node_roots = [Path(v.split(b"=", 1)[1].decode(errors="replace")) for v in environ
                      if v.startswith(b"NDOVU_NODE_ROOT=")]
        if state != "Z" and any(r == root or root in r.parents for r in node_roots):
            found.append(int(entry.name))
    return found


def kill_all(state_dir: Path) -> None:
    for pid in node_pids(state_dir):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets ``pid`` listens on."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            if len(raw) == 16:  # an IPv4-mapped IPv6 address keeps IPv4 in its last word
                raw = raw[12:]
            found.append((".".join(str(b) for b in reversed(raw)), int(hex_port, 16)))
    return found


def etcdctl(address: str, *args: str) -> str:
    """Run etcdctl (API v3) against one member; its output, or an assertion with why not."""
    # no proxy may carry a loopback request away; ETCDCTL_* of the caller must not leak in
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    result = subprocess.run(
        ["etcdctl", f"--endpoints=http://{address}:2379", "--command-timeout=10s", *args],
        env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"etcdctl {args} failed: {result.stderr}"
    return result.stdout
