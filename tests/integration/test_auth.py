"""Authentication through a real server: the first start's admin, bearer tokens, 401s that
say nothing more, users, and the CLI's login kept 0600."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import NDOVU, Server, login

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration

PUBLIC = {("GET", "/v1/health"), ("POST", "/v1/auth/tokens")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("auth") / "state", subnet="127.71.0.0/16").start()
    yield srv
    srv.stop()


def _cli(server: Server, config_home: Path, *args: str,
         token: bool = False) -> subprocess.CompletedProcess[str]:
    env = server.cli_env()
    if not token:
        env.pop("NDOVU_TOKEN")
    env["XDG_CONFIG_HOME"] = str(config_home)
    return subprocess.run([str(NDOVU), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_first_start_writes_the_admin_password_for_its_owner_only(server: Server) -> None:
    path = server.state_dir / "initial-admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = server.admin_password
    assert len(password) >= 20
    log = server.log.read_text()
    assert str(path) in log and password not in log


def test_every_v1_route_but_health_and_login_needs_a_token(server: Server) -> None:
    with server.client(authenticated=False) as c:
        spec = c.get("/openapi.json").json()
        checked = 0
        for path, methods in spec["paths"].items():
            if not path.startswith("/v1/"):
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method in methods:
                if (method.upper(), path) in PUBLIC:
                    continue
                for headers in ({}, {"Authorization": "Bearer not-a-token"},
                                {"Authorization": "Basic YWRtaW46YWRtaW4="}):
                    r = c.request(method.upper(), concrete, headers=headers, json={})
                    assert r.status_code == 401, (method, path, headers, r.text)
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
                    assert r.json()["error"]["code"] == "unauthorized"
                checked += 1
        assert checked >= 8
        assert c.get("/v1/health").status_code == 200


def test_wrong_name_and_wrong_password_get_the_same_answer(server: Server) -> None:
    with server.client(authenticated=False) as c:
        wrong_password = c.post("/v1/auth/tokens",
                                json={"username": "admin", "password": "nope-nope-nope"})
        no_such_user = c.post("/v1/auth/tokens",
                              json={"username": "mallory", "password": "nope-nope-nope"})
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()


def test_tokens_users_and_revocation(server: Server) -> None:
    with server.client() as admin:
        assert admin.get("/v1/auth/whoami").json() == {"name": "admin", "isAdmin": True}
        r = admin.post("/v1/users", json={"name": "tenant1", "password": "tenant1-secret!"})
        assert r.status_code == 201, r.text
        assert admin.post("/v1/users", json={"name": "tenant1",
                                             "password": "tenant1-secret!"}).status_code == 409
        short = admin.post("/v1/users", json={"name": "tenant2", "password": "short"})
        assert short.status_code == 422 and short.json()["error"]["field"] == "password"
        names = {u["name"] for u in admin.get("/v1/users").json()["users"]}
        assert names == {"admin", "tenant1"}

    token = login(server.url, "tenant1", "tenant1-secret!")
    tenant = httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
    with tenant:
        assert tenant.get("/v1/clusters").status_code == 200
        # tenants are not administrators
        r = tenant.post("/v1/users", json={"name": "x_user", "password": "0123456789ab"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert tenant.put("/v1/users/admin/password",
                          json={"password": "0123456789ab"}).status_code == 403
        # a new password ends every session of the old one
        assert tenant.put("/v1/users/tenant1/password",
                          json={"password": "tenant1-new-secret"}).status_code == 204
        assert tenant.get("/v1/clusters").status_code == 401
    token = login(server.url, "tenant1", "tenant1-new-secret")
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as tenant:
        assert tenant.delete("/v1/auth/tokens/current").status_code == 204
        assert tenant.get("/v1/clusters").status_code == 401
    log = server.log.read_text()
    assert "tenant1-secret!" not in log and token not in log


def test_cli_login_keeps_the_token_for_its_owner_only(server: Server, tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    password_file = tmp_path / "pw"
    password_file.write_text(server.admin_password + "\n")
    refused = _cli(server, config_home, "cluster", "list")
    assert refused.returncode == 1
    assert "ndovu login" in refused.stdout + refused.stderr

    bad = tmp_path / "bad"
    bad.write_text("wrong-password\n")
    wrong = _cli(server, config_home, "login", "--password-file", str(bad))
    assert wrong.returncode == 1 and "invalid user name or password" in wrong.stdout + wrong.stderr
    assert not (config_home / "ndovu" / "credentials.json").exists()

    done = _cli(server, config_home, "login", "--user", "admin", "--password-file",
                str(password_file))
    assert done.returncode == 0, done.stdout + done.stderr
    credentials = config_home / "ndovu" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    assert server.admin_password not in credentials.read_text()
    assert server.admin_password not in done.stdout + done.stderr

    listed = _cli(server, config_home, "cluster", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert _cli(server, config_home, "logout").returncode == 0
    again = _cli(server, config_home, "cluster", "list")
    assert again.returncode == 1 and "ndovu login" in again.stdout + again.stderr
