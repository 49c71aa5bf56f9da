"""``ndovu machine add|list|show|remove``, run with CliRunner against a fake REST API over
real HTTP: what is sent (the key file's text, read on the client), what is shown, and the
usage errors that stop before anything is sent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tests.fake_api as fake
from ndovu.cli.main import app

Json = dict[str, Any]
KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
       "-----END OPENSSH PRIVATE KEY-----\n")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NDOVU_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text(KEY)
    path.chmod(0o600)
    return path


def machine(name: str = "10-0-0-5", *, node: str | None = None,
            fingerprint: str | None = None) -> Json:
    return {"name": name, "address": "10.0.0.5", "port": 2222, "user": "ubuntu",
            "labels": {"rack": "r1"}, "hostKeyFingerprint": fingerprint,
            "status": "assigned" if node else "free", "cluster": "zk" if node else None,
            "node": node, "createdAt": "2026-11-24T10:00:00+00:00",
            "links": {"self": f"/v1/machines/{name}"}}


def test_add_sends_the_key_files_text_and_the_options(fake_api, run, key_file) -> None:
    fake_api.add("POST", "/v1/machines", (201, machine()))
    result = run("machine", "add", "10.0.0.5", "--user", "ubuntu", "--key-file",
                 str(key_file), "--port", "2222", "--label", "rack=r1", "--label",
                 "disk = ssd", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/machines") == [{
        "address": "10.0.0.5", "user": "ubuntu", "port": 2222, "privateKey": KEY,
        "labels": {"rack": "r1", "disk": "ssd"}}]
    assert "Added machine 10-0-0-5 (ubuntu@10.0.0.5:2222)." in result.output
    assert "PRIVATE KEY" not in result.output

    named = run("machine", "add", "10.0.0.5", "--key-file", str(key_file), "--name", "m1",
                "--json", "--url", fake_api.url)
    assert named.exit_code == 0, named.output
    assert json.loads(named.stdout) == machine()
    sent = fake_api.calls("POST", "/v1/machines")[-1]
    assert (sent["name"], sent["user"], sent["port"], sent["labels"]) == ("m1", "root", 22, {})


def test_an_unreadable_key_file_is_a_usage_error_and_nothing_is_sent(
        fake_api, run, key_file, tmp_path: Path) -> None:
    missing = run("machine", "add", "10.0.0.5", "--key-file", str(tmp_path / "nope"),
                  "--url", fake_api.url)
    assert missing.exit_code == 2, missing.output
    assert "cannot read" in missing.output and "--key-file" in missing.output
    empty = tmp_path / "empty"
    empty.write_text("")
    assert run("machine", "add", "10.0.0.5", "--key-file", str(empty),
               "--url", fake_api.url).exit_code == 2
    if os.geteuid() != 0:  # root reads any file
        key_file.chmod(0)
        assert run("machine", "add", "10.0.0.5", "--key-file", str(key_file),
                   "--url", fake_api.url).exit_code == 2
    bad_label = run("machine", "add", "10.0.0.5", "--key-file", str(tmp_path / "nope"),
                    "--label", "rack", "--url", fake_api.url)
    assert bad_label.exit_code == 2
    assert fake_api.requests == []


def test_a_refusal_prints_message_field_and_hint_without_the_key(fake_api, run,
                                                                 key_file) -> None:
    fake_api.add("POST", "/v1/machines", (422, fake.error(
        "invalid_spec", "privateKey: the key is encrypted; ndovu logs in unattended and "
        "needs it without a passphrase", field="privateKey",
        hint="make an unencrypted copy")))
    result = run("machine", "add", "10.0.0.5", "--key-file", str(key_file),
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "Error: privateKey: the key is encrypted" in result.output
    assert "field: privateKey" in result.output and "hint: make an unencrypted copy" in \
        result.output
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in result.output


def test_list_and_show_render_the_machines(fake_api, run) -> None:
    used = machine("m1", node="zk-zookeeper-0", fingerprint="SHA256:abc")
    free = machine("m2")
    listing = {"machines": [used, free], "free": 1}
    fake_api.add("GET", "/v1/machines", (200, listing))
    fake_api.add("GET", "/v1/machines/m1", (200, used))
    listed = run("machine", "list", "--url", fake_api.url)
    assert listed.exit_code == 0, listed.output
    for text in ("Machines", "m1", "m2", "10.0.0.5", "2222", "ubuntu", "assigned", "free",
                 "zk-zookeeper-0", "rack=r1", "1 of 2 machines free."):
        assert text in listed.output
    assert json.loads(run("machine", "list", "--json", "--url",
                          fake_api.url).stdout) == listing
    shown = run("machine", "show", "m1", "--url", fake_api.url)
    assert shown.exit_code == 0, shown.output
    for text in ("m1", "SHA256:abc", "zk-zookeeper-0", "assigned", "rack=r1"):
        assert text in shown.output
    fresh = machine("m2")
    fake_api.add("GET", "/v1/machines/m2", (200, fresh))
    assert "not seen yet" in run("machine", "show", "m2", "--url", fake_api.url).output


def test_remove_and_its_refusal(fake_api, run) -> None:
    fake_api.add("DELETE", "/v1/machines/m%201", (204, ""))
    removed = run("machine", "remove", "m 1", "--url", fake_api.url)
    assert removed.exit_code == 0, removed.output
    assert "Removed machine m 1." in removed.output
    assert json.loads(run("machine", "remove", "m 1", "--json", "--url",
                          fake_api.url).stdout) == {"machine": "m 1", "removed": True}
    fake_api.add("DELETE", "/v1/machines/m1", (409, fake.error(
        "conflict", "machine 'm1' carries node zk-zookeeper-0 of cluster 'zk'")))
    refused = run("machine", "remove", "m1", "--json", "--url", fake_api.url)
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["code"] == "conflict"
