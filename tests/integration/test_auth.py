"""Authentication through a real server: the first start's admin, bearer tokens, 401s that
say nothing more, users, and the CLI's login kept 0600."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import NDOVU, Server, login, wait_operation

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
        assert admin.get("/v1/auth/whoami").json() == {"name": "admin", "isAdmin": True,
                                                       "disabled": False}
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
        # an administrator's new password for a user ends every session of the old one
        with server.client() as admin:
            assert admin.put("/v1/users/tenant1/password",
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


def _client(server: Server, token: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client of the server whose connections come from ``source`` (a loopback address
    of its own: the server counts failed logins by the peer's address)."""
    return httpx.Client(base_url=server.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=source),
                        headers={"Authorization": f"Bearer {token}"} if token else {})


def test_weak_passwords_are_refused_naming_the_rule(server: Server) -> None:
    with server.client() as admin:
        for weak in (" " * 10, "aaaaaaaaaa", "abababababab", "weak_user1", "short"):
            r = admin.post("/v1/users", json={"name": "weak_user1", "password": weak})
            assert r.status_code == 422, (weak, r.text)
            assert r.json()["error"]["field"] == "password"
        assert "weak_user1" not in {u["name"] for u in admin.get("/v1/users").json()["users"]}


def test_your_own_new_password_needs_the_current_one(server: Server) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "own_pw", "password": "first-secret-1"}
                          ).status_code == 201
    first, second = (login(server.url, "own_pw", "first-secret-1") for _ in range(2))
    with _client(server, first) as c, _client(server, second) as other:
        url = "/v1/users/own_pw/password"
        r = c.put(url, json={"password": "second-secret-2"})  # a token alone does not do
        assert r.status_code == 422 and r.json()["error"]["field"] == "currentPassword"
        r = c.put(url, json={"password": "second-secret-2", "currentPassword": "guess-guess"})
        assert r.status_code == 403 and r.json()["error"]["field"] == "currentPassword"
        assert other.get("/v1/clusters").status_code == 200  # nothing changed
        r = c.put(url, json={"password": "second-secret-2", "currentPassword": "first-secret-1"})
        assert r.status_code == 204, r.text
        # this token goes on; the other ones of the old password end
        assert c.get("/v1/clusters").status_code == 200
        assert other.get("/v1/clusters").status_code == 401
    login(server.url, "own_pw", "second-secret-2")


def test_a_disabled_user_is_out_at_once_and_a_deleted_one_for_good(server: Server) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "leaver", "password": "leaver-secret-1"}
                          ).status_code == 201
        with _client(server, login(server.url, "leaver", "leaver-secret-1")) as leaver:
            assert leaver.get("/v1/clusters").status_code == 200
            r = admin.patch("/v1/users/leaver", json={"disabled": True})
            assert r.status_code == 200 and r.json()["disabled"] is True
            assert leaver.get("/v1/clusters").status_code == 401  # its token died with it
        with _client(server, "") as anonymous:
            refused = anonymous.post("/v1/auth/tokens", json={
                "username": "leaver", "password": "leaver-secret-1"})
            wrong = anonymous.post("/v1/auth/tokens", json={
                "username": "leaver", "password": "not-the-password"})
            # the same answer as a wrong password: nothing says the account exists
            assert refused.status_code == wrong.status_code == 401
            assert refused.json() == wrong.json()
        assert admin.patch("/v1/users/leaver", json={"disabled": False}).status_code == 200
        token = login(server.url, "leaver", "leaver-secret-1")
        assert admin.delete("/v1/users/leaver").status_code == 204
        with _client(server, token) as leaver:
            assert leaver.get("/v1/clusters").status_code == 401
        assert admin.delete("/v1/users/leaver").status_code == 404
        assert "leaver" not in {u["name"] for u in admin.get("/v1/users").json()["users"]}
        # nobody locks the server out of administrators
        for r in (admin.delete("/v1/users/admin"),
                  admin.patch("/v1/users/admin", json={"disabled": True})):
            assert r.status_code == 409 and "yourself" in r.json()["error"]["message"]


def test_failed_logins_wait_but_not_from_another_address(server: Server) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "target", "password": "target-secret-1"}
                          ).status_code == 201
    attacker = _client(server, "", source="127.0.0.1")
    owner = _client(server, "", source="127.0.0.2")
    with attacker, owner:
        answers = [attacker.post("/v1/auth/tokens", json={
            "username": "target", "password": f"guess-number-{i}"}) for i in range(20)]
        assert [r.status_code for r in answers[:5]] == [401] * 5  # five free tries
        waiting = answers[19]
        assert waiting.status_code == 429, waiting.text
        assert waiting.json()["error"]["code"] == "too_many_requests"
        assert 0 < int(waiting.headers["Retry-After"]) <= 30  # the first wait
        # while it waits, even the right password gets the same 429 (else it would tell)
        r = attacker.post("/v1/auth/tokens", json={"username": "target",
                                                   "password": "target-secret-1"})
        assert r.status_code == 429
        # the owner, from another address, is not held back
        r = owner.post("/v1/auth/tokens", json={"username": "target",
                                                "password": "target-secret-1"})
        assert r.status_code == 201, r.text


def test_the_cli_changes_its_own_password_and_disables_and_deletes_users(
        server: Server, tmp_path: Path) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "cli_user", "password": "cli-secret-one"}
                          ).status_code == 201
    files = {name: tmp_path / f"{name}.pw" for name in ("current", "new", "wrong", "admin")}
    for name, text in (("current", "cli-secret-one"), ("new", "cli-secret-two"),
                       ("wrong", "not-my-password"), ("admin", server.admin_password)):
        files[name].write_text(text + "\n")
    user_home, admin_home = tmp_path / "user", tmp_path / "admin"
    assert _cli(server, user_home, "login", "--user", "cli_user", "--password-file",
                str(files["current"])).returncode == 0
    wrong = _cli(server, user_home, "user", "passwd", "cli_user", "--password-file",
                 str(files["new"]), "--current-password-file", str(files["wrong"]))
    assert wrong.returncode == 1 and "not your current password" in wrong.stdout + wrong.stderr
    done = _cli(server, user_home, "user", "passwd", "cli_user", "--password-file",
                str(files["new"]), "--current-password-file", str(files["current"]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _cli(server, user_home, "cluster", "list").returncode == 0  # still logged in

    assert _cli(server, admin_home, "login", "--user", "admin", "--password-file",
                str(files["admin"])).returncode == 0
    assert _cli(server, admin_home, "user", "disable", "cli_user").returncode == 0
    listed = _cli(server, admin_home, "user", "list", "--json")
    users = {u["name"]: u for u in json.loads(listed.stdout)["users"]}
    assert users["cli_user"]["disabled"] is True
    out = _cli(server, user_home, "cluster", "list")
    assert out.returncode == 1 and "ndovu login" in out.stdout + out.stderr
    assert _cli(server, admin_home, "user", "delete", "cli_user").returncode == 0
    gone = _cli(server, admin_home, "user", "enable", "cli_user")
    assert gone.returncode == 1 and "no user named 'cli_user'" in gone.stdout + gone.stderr


def test_the_audit_log_says_who_asked_for_what_and_never_a_secret(
        server: Server, tmp_path: Path) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "auditee", "password": "auditee-secret-1"}
                          ).status_code == 201
    with _client(server, "", source="127.0.0.3") as anonymous:
        assert anonymous.post("/v1/auth/tokens", json={
            "username": "auditee", "password": "wrong-secret-9"}).status_code == 401
    token = login(server.url, "auditee", "auditee-secret-1")
    with _client(server, token) as auditee:
        r = auditee.post("/v1/clusters", json={"name": "audited_sim", "type": "zookeeper",
                                               "nodeGroups": [{"name": "zookeeper",
                                                               "instanceNum": 9}]})
        assert r.status_code == 422  # refused: audited all the same
        assert auditee.delete("/v1/users/admin").status_code == 403
        assert auditee.get("/v1/audit").status_code == 403  # administrators only
    with server.client() as admin:
        events = admin.get("/v1/audit", params={"limit": 1000}).json()["events"]
    mine = [(e["user"], e["address"], e["method"], e["path"], e["status"]) for e in events
            if e["path"] in ("/v1/auth/tokens", "/v1/clusters", "/v1/users/admin")
            and e["user"] in ("auditee", None)]
    assert (None, "127.0.0.3", "POST", "/v1/auth/tokens", 401) in mine
    assert ("auditee", "127.0.0.1", "POST", "/v1/auth/tokens", 201) in mine
    assert ("auditee", "127.0.0.1", "POST", "/v1/clusters", 422) in mine
    assert ("auditee", "127.0.0.1", "DELETE", "/v1/users/admin", 403) in mine
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    shown = json.dumps(events)
    for secret in ("auditee-secret-1", "wrong-secret-9", token, server.admin_password):
        assert secret not in shown
    # reads are not changes: none is recorded
    assert not [e for e in events if e["method"] == "GET"]

    listed = _cli(server, tmp_path / "home", "audit", "--limit", "5", "--json", token=True)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["events"]) == 5


def test_an_operation_names_who_asked_for_it(server: Server) -> None:
    with server.client() as admin:
        assert admin.post("/v1/users", json={"name": "asker", "password": "asker-secret-1"}
                          ).status_code == 201
    with _client(server, login(server.url, "asker", "asker-secret-1")) as asker:
        r = asker.post("/v1/clusters", json={"name": "asked_zk", "type": "zookeeper"})
        assert r.status_code == 202 and r.json()["requestedBy"] == "asker"
        op = asker.get(f"/v1/operations/{r.json()['id']}").json()
        assert op["requestedBy"] == "asker"
        assert wait_operation(asker, op["id"])["status"] == "COMPLETED"
        r = asker.delete("/v1/clusters/asked_zk")
        assert r.json()["requestedBy"] == "asker"
        assert wait_operation(asker, r.json()["id"])["status"] == "COMPLETED"
