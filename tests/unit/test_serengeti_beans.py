"""BDE's request beans: the fields ndovu accepts and ignores are fields of the bean and
are listed in the README, so a BDE client's body is accepted and its reader is told."""

from __future__ import annotations

from ndovu.api.serengeti.beans import (
    IGNORED_CLUSTER_FIELDS,
    IGNORED_NETWORK_FIELDS,
    ClusterCreate,
    NetworkAdd,
)
from tests.helpers import REPO


def test_every_ignored_field_is_accepted_and_documented() -> None:
    readme = (REPO / "README.md").read_text()
    for bean, ignored in ((ClusterCreate, IGNORED_CLUSTER_FIELDS),
                          (NetworkAdd, IGNORED_NETWORK_FIELDS)):
        for name in ignored:
            assert name in bean.model_fields, (bean.__name__, name)
            assert f"`{name}`" in readme, name
    body = ClusterCreate.model_validate({"name": "c1", "type": "etcd",
                                         **dict.fromkeys(IGNORED_CLUSTER_FIELDS, "x")})
    assert body.name == "c1"


def test_a_cluster_password_never_shows_in_the_bean() -> None:
    body = ClusterCreate.model_validate({"name": "c1", "password": "s3cret-s3cret"})
    assert "s3cret" not in repr(body) and "s3cret" not in str(body.model_dump())
