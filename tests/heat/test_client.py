"""The plugin's HTTP client against a real ndovu server: one login kept and renewed when
revoked, the server's errors in its own words, unreachable endpoints named, and never a
password or token in a message."""

from __future__ import annotations

import pytest
import requests

from ndovu.heat import client
from tests.helpers import Server, free_port


def _connection(server: Server, password: str | None = None) -> client.Connection:
    return client.Connection(endpoint=server.url, username="admin",
                             password=password or server.admin_password,
                             connect_timeout=2, request_timeout=10)


def test_one_login_is_kept_and_renewed_after_a_revocation(ndovu_server: Server) -> None:
    client.forget_tokens()
    api = client.Client(_connection(ndovu_server))
    assert api.get_cluster("no_such_cluster") is None
    assert "zookeeper" in [t["name"] for t in api.catalog()["types"]]
    assert len(client._tokens) == 1
    token = next(iter(client._tokens.values()))
    revoked = requests.delete(f"{ndovu_server.url}/v1/auth/tokens/current", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 204
    assert api.catalog_type("etcd")["name"] == "etcd"  # a 401, a new login, the answer
    assert list(client._tokens.values()) != [token]


def test_errors_are_the_servers_own_words(ndovu_server: Server) -> None:
    api = client.Client(_connection(ndovu_server))
    with pytest.raises(client.ApiError) as caught:
        api.resize_group("no_such_cluster", "worker", 3)
    assert caught.value.status == 404 and "no cluster named 'no_such_cluster'" in \
        caught.value.message
    with pytest.raises(client.ApiError) as caught:
        api.create_cluster({"name": "bad name", "type": "zookeeper"})
    assert caught.value.status == 422 and "cluster name 'bad name' is invalid" in \
        caught.value.message
    assert not caught.value.retryable


def test_a_wrong_password_names_the_user_not_the_password(ndovu_server: Server) -> None:
    wrong = "not-the-password-123"
    api = client.Client(_connection(ndovu_server, password=wrong))
    with pytest.raises(client.ApiError) as caught:
        api.catalog()
    assert caught.value.code == "login_refused"
    assert f"ndovu at {ndovu_server.url} refused the login of user 'admin'" in str(caught.value)
    assert wrong not in str(caught.value)


def test_an_unreachable_endpoint_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    api = client.Client(client.Connection(endpoint=url, username="u", password="pw-xyz"))
    with pytest.raises(client.Unreachable) as caught:
        api.get_cluster("c")
    assert str(caught.value) == f"cannot reach ndovu at {url}: connection refused"
    assert caught.value.retryable
