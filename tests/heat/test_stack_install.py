"""The second way to install the plugin (docs/heat.md): the ndovu package importable in
Heat's environment plus a one-line loader file in a plugin directory. Checked in a
fresh interpreter, as heat-engine starts: configuration parsed, plugins loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LOADER = "from ndovu.heat.resources import resource_mapping  # noqa: F401\n"

ENGINE_START = """
import sys
from oslo_service import backend
backend.init_backend(backend.BackendType.THREADING)
from oslo_config import cfg
from heat.common import config  # noqa: F401
cfg.CONF(["--config-file", sys.argv[1]], project="heat", default_config_files=[])
from heat.engine import resources
resources.initialise()
env = resources.global_env()
for name in ("Ndovu::Cluster", "VirtualElephant::VMware::BDE"):
    cls = env.get_class(name)
    print(name, cls.__module__, cls.__name__)
print("endpoint", cfg.CONF.ndovu.endpoint, "timeout", cfg.CONF.ndovu.request_timeout)
"""


def test_package_plus_one_line_loader(tmp_path: Path) -> None:
    plugins = tmp_path / "heat-plugins"
    plugins.mkdir()
    (plugins / "ndovu_heat.py").write_text(LOADER)
    conf = tmp_path / "heat.conf"
    conf.write_text(f"[DEFAULT]\nplugin_dirs = {plugins}\n\n"
                    "[ndovu]\nendpoint = http://ndovu.example:8470\nusername = heat\n"
                    "password_file = /etc/heat/ndovu-password\nrequest_timeout = 12\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))  # as `pip install --no-deps`
    result = subprocess.run([sys.executable, "-c", ENGINE_START, str(conf)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "Ndovu::Cluster ndovu.heat.resources NativeCluster",
        "VirtualElephant::VMware::BDE ndovu.heat.resources BDECluster",
        "endpoint http://ndovu.example:8470 timeout 12.0",
    ]
