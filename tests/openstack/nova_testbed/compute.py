"""nova-compute with this repository's driver loadable: ``python -m
tests.openstack.nova_testbed.compute --config-file nova.conf`` from .venv-openstack, with
the repository on PYTHONPATH (cloud.py does both when given ``compute_launcher``).

Nova imports a compute driver only as ``nova.virt.<compute_driver>``, so the driver is
registered under that package here (``compute_driver = ndovu_testbed.TestBedDriver``)
before nova-compute's own main runs. Nothing else changes.
"""

import sys

# first: importing it chooses Nova's concurrency backend (native threads for computes)
# before anything else is imported, as the nova-compute script does
from nova.cmd import compute  # isort: skip

from tests.openstack.nova_testbed import driver

sys.modules["nova.virt.ndovu_testbed"] = driver

if __name__ == "__main__":
    sys.exit(compute.main())
