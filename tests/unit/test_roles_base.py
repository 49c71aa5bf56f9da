"""What every role shares: reading a failed process's log, and parsing settings."""

from __future__ import annotations

import pytest

from ndovu.roles.base import Setting, failure_excerpt

ZOOKEEPER_BIND_FAILURE = """\
2026-11-22 00:01:28,700 - INFO  [main:QuorumPeerConfig@174] - Reading configuration
2026-11-22 00:01:28,838 - ERROR [main:QuorumPeerMain@114] - Unexpected exception, exiting
java.net.BindException: Address already in use
\tat java.base/sun.nio.ch.Net.bind0(Native Method)
\tat java.base/sun.nio.ch.ServerSocketAdaptor.bind(ServerSocketAdaptor.java:89)
\tat org.apache.zookeeper.server.quorum.QuorumPeerMain.main(QuorumPeerMain.java:91)
2026-11-22 00:01:28,841 - INFO  [main:ZKAuditProvider@42] - ZooKeeper audit is disabled.
2026-11-22 00:01:28,843 - ERROR [main:ServiceUtils@42] - Exiting JVM with code 1
"""


def test_the_exception_is_kept_and_stack_frames_are_dropped() -> None:
    excerpt = failure_excerpt(ZOOKEEPER_BIND_FAILURE)
    assert "java.net.BindException: Address already in use" in excerpt
    assert "Exiting JVM with code 1" in excerpt
    assert "\tat " not in excerpt and "Reading configuration" not in excerpt


def test_the_line_after_an_error_gives_the_reason() -> None:
    excerpt = failure_excerpt("Error occurred during initialization of VM\n"
                              "Too small maximum heap\n")
    assert excerpt.splitlines() == ["Error occurred during initialization of VM",
                                    "Too small maximum heap"]


def test_without_error_lines_the_last_lines_are_kept() -> None:
    log = "\n".join(f"line {i}" for i in range(20))
    assert failure_excerpt(log, limit=3).splitlines() == ["line 17", "line 18", "line 19"]
    assert failure_excerpt("") == "(no log)"


@pytest.mark.parametrize(("setting", "raw", "parsed"), [
    (Setting("n", "int", "", minimum=1), "42", 42),
    (Setting("n", "int", "", minimum=0), 0, 0),
    (Setting("b", "bool", ""), "TRUE", True),
    (Setting("m", "size", ""), " 2G ", "2g"),
    (Setting("c", "string", "", choices=("a", "b")), "b", "b"),
])
def test_settings_parse_to_their_canonical_type(setting: Setting, raw: object,
                                                parsed: object) -> None:
    assert setting.parse(raw) == parsed


@pytest.mark.parametrize(("setting", "raw", "words"), [
    (Setting("n", "int", "", minimum=1), 0, "at least 1"),
    (Setting("n", "int", ""), True, "integer"),
    (Setting("n", "int", ""), "1.5", "integer"),
    (Setting("b", "bool", ""), "yes", "true or false"),
    (Setting("m", "size", ""), "2 GB", "512m"),
    (Setting("c", "string", "", choices=("a", "b")), "c", "one of a, b"),
    (Setting("s", "string", ""), "", "non-empty"),
])
def test_bad_values_say_what_is_wrong(setting: Setting, raw: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        setting.parse(raw)
