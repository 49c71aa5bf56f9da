"""Settings: defaults < TOML file < NDOVU_* environment < command-line options."""

from __future__ import annotations

from pathlib import Path

import pytest

from ndovu.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NDOVU_"):
            monkeypatch.delenv(key)


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ndovu.toml"
    config.write_text('[ndovu]\nport = 9000\nlocal_subnet = "127.9.0.0/16"\n'
                      f'state_dir = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("NDOVU_PORT", "9100")
    settings = load_settings(config, state_dir=tmp_path / "from-cli")
    assert settings.port == 9100
    assert settings.local_subnet == "127.9.0.0/16"
    assert settings.state_dir == tmp_path / "from-cli"
    assert settings.db_url == f"sqlite:///{tmp_path / 'from-cli' / 'ndovu.db'}"


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "ndovu.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config)


def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDOVU_PORT", "eighty")
    with pytest.raises(ConfigError, match="'port'"):
        load_settings()


def test_catalog_dirs_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDOVU_CATALOG_DIRS", "/a:/b")
    assert load_settings().catalog_dirs == (Path("/a"), Path("/b"))


def test_provider_options_from_a_toml_table_and_from_json(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    config = tmp_path / "ndovu.toml"
    config.write_text('provider = "sim"\nlease_ttl_s = 3\n'
                      "[provider_options]\nboot_latency_s = 0.5\nmax_parallel = 8\n")
    settings = load_settings(config)
    assert (settings.provider, settings.lease_ttl_s) == ("sim", 3.0)
    assert settings.provider_options == {"boot_latency_s": 0.5, "max_parallel": 8}
    monkeypatch.setenv("NDOVU_PROVIDER_OPTIONS", '{"seed": 7}')
    assert load_settings(config).provider_options == {"seed": 7}
    monkeypatch.setenv("NDOVU_PROVIDER_OPTIONS", "seed=7")
    with pytest.raises(ConfigError, match=r"'provider_options'.*JSON object"):
        load_settings(config)


def test_the_servers_limits_come_from_settings(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ndovu.toml"
    config.write_text("[ndovu]\nmax_cpu_per_node = 16\n")
    monkeypatch.setenv("NDOVU_MAX_NODES_PER_CLUSTER", "50")
    limits = load_settings(config_file=config).limits
    assert (limits.nodes_per_cluster, limits.cpu_per_node) == (50, 16)
    assert limits.memory_mb_per_node == 1024 * 1024  # the default
