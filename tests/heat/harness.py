"""The real Heat engine in this process: ``heat.engine.service.EngineService`` started as
heat-engine starts it (its RPC server and convergence worker on oslo.messaging's fake
in-process transport), a SQLite database, Heat's fake Keystone backend, and the plugin
loaded through ``plugin_dirs`` from ``src/ndovu/heat`` as an operator would install it.

Import this module only after conftest selected oslo.service's threading backend.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heat.common import config as heat_config  # noqa: F401  (registers Heat's options)
from heat.common import context, exception, messaging, template_format
from heat.db import api as db_api
from heat.db import models
from heat.engine.clients.os.keystone import heat_keystoneclient  # noqa: F401  (options)
from oslo_config import cfg
from oslo_messaging.rpc.dispatcher import ExpectedException

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "src" / "ndovu" / "heat"
EXAMPLES = REPO / "examples" / "heat"
FAKE_KEYSTONE = "heat.engine.clients.os.keystone.fake_keystoneclient.FakeKeystoneClient"
TERMINAL = ("COMPLETE", "FAILED")


def configure(state_dir: Path) -> None:
    """Heat's configuration, once per process, before the engine starts."""
    cfg.CONF([], project="heat", default_config_files=[])
    from oslo_db import options as db_options
    db_options.set_defaults(cfg.CONF, connection=f"sqlite:///{state_dir / 'heat.sqlite'}")
    (state_dir / "environment.d").mkdir(parents=True, exist_ok=True)
    cfg.CONF.set_override("environment_dir", str(state_dir / "environment.d"))
    cfg.CONF.set_override("plugin_dirs", [str(PLUGIN_DIR)])
    cfg.CONF.set_override("keystone_backend", FAKE_KEYSTONE)
    # a failure is the test's subject: no silent retries of a failed create
    cfg.CONF.set_override("action_retry_limit", 0)
    cfg.CONF.set_override("error_wait_time", 5)
    messaging.setup("fake://", optional=True)
    # MySQL and PostgreSQL never reuse a deleted row's id; SQLite does unless a table is
    # AUTOINCREMENT, and Heat deletes stale attribute rows by id, which then can take a
    # resource's properties with them (the engine silently drops the resource's next
    # convergence step). Production Heat runs on MySQL: give SQLite the same semantics.
    for table in models.BASE.metadata.tables.values():
        table.dialect_options["sqlite"]["autoincrement"] = True
    models.BASE.metadata.create_all(db_api.get_engine())


def load_template(name: str) -> dict[str, Any]:
    """An example template (HOT YAML or CFN JSON) as Heat's API would parse it."""
    return template_format.parse((EXAMPLES / name).read_text())


class HeatEngine:
    """Stack operations through the engine's own RPC-facing methods, as heat-api calls
    them, each awaited until the stack leaves IN_PROGRESS."""

    def __init__(self) -> None:
        from heat.engine import service
        self.service = service.EngineService("heat-test-host", "engine")
        self.service.start()
        self.ctx = context.RequestContext.from_dict({
            "tenant_id": "tenant1", "tenant": "tenant1", "username": "demo",
            "user_id": "demo-id", "password": "", "roles": ["member"], "is_admin": False,
            "auth_url": "http://keystone.invalid:5000/v3", "auth_token": "heat-test-token",
            "trust_id": None, "region_name": None})

    def stop(self) -> None:
        self.service.stop()

    # -- stack actions ---------------------------------------------------------------------

    def create(self, name: str, template: dict[str, Any], params: dict[str, Any] | None = None,
               *, timeout_mins: int = 10, convergence: bool = True,
               wait: float = 300) -> dict[str, Any]:
        cfg.CONF.set_override("convergence_engine", convergence)
        try:
            identity = self.service.create_stack(
                self.ctx, name, template, params or {}, {},
                {"timeout_mins": timeout_mins, "disable_rollback": True})
        except ExpectedException as exc:
            raise exc.exc_info[1] from None  # what heat-api receives over RPC
        finally:
            cfg.CONF.clear_override("convergence_engine")
        return self.wait(identity, wait)

    def update(self, identity: dict[str, Any], template: dict[str, Any],
               params: dict[str, Any] | None = None, *, wait: float = 90) -> dict[str, Any]:
        before = self.show(identity, outputs=False).get("updated_time")
        self.service.update_stack(self.ctx, identity, template, params or {}, {},
                                  {"timeout_mins": 10, "disable_rollback": True})
        return self.wait(identity, wait, action="UPDATE", changed_from=before)

    def suspend(self, identity: dict[str, Any], wait: float = 120) -> dict[str, Any]:
        self.service.stack_suspend(self.ctx, identity)
        return self.wait(identity, wait, action="SUSPEND")

    def resume(self, identity: dict[str, Any], wait: float = 120) -> dict[str, Any]:
        self.service.stack_resume(self.ctx, identity)
        return self.wait(identity, wait, action="RESUME")

    def check(self, identity: dict[str, Any], wait: float = 60) -> dict[str, Any]:
        self.service.stack_check(self.ctx, identity)
        return self.wait(identity, wait, action="CHECK")

    def delete(self, identity: dict[str, Any], wait: float = 180) -> None:
        """Delete and wait until Heat no longer knows the stack (or it failed)."""
        self.service.delete_stack(self.ctx, identity)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                stack = self.show(identity, outputs=False)
            except exception.EntityNotFound:
                return
            if stack["stack_action"] == "DELETE" and stack["stack_status"] in TERMINAL:
                assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
                return
            time.sleep(0.3)
        raise AssertionError(f"stack {identity['stack_name']} not deleted in {wait:g} s")

    # -- reads -----------------------------------------------------------------------------

    def show(self, identity: dict[str, Any], outputs: bool = True) -> dict[str, Any]:
        for attempt in range(5):
            try:
                return self.service.show_stack(self.ctx, identity, resolve_outputs=outputs)[0]
            except exception.NotFound as exc:
                # heat-api sees this too: a read racing the engine replacing a resource's
                # stored properties (SQLite, no snapshot isolation across the two reads)
                if "ResourcePropertiesData" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def outputs(self, identity: dict[str, Any]) -> dict[str, Any]:
        stack = self.show(identity)
        found = {}
        for out in stack.get("outputs", []):
            assert "output_error" not in out, out
            found[out["output_key"]] = out["output_value"]
        return found

    def resource(self, identity: dict[str, Any], name: str) -> dict[str, Any]:
        return self.service.describe_stack_resource(self.ctx, identity, name, with_attr=None)

    def events(self, identity: dict[str, Any]) -> list[dict[str, Any]]:
        return self.service.list_events(self.ctx, identity)

    def wait(self, identity: dict[str, Any], timeout: float, *, action: str | None = None,
             changed_from: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        stack: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stack = self.show(identity, outputs=False)
            settled = stack["stack_status"] in TERMINAL
            if action is not None:
                settled = settled and stack["stack_action"] == action
            if action == "UPDATE":  # this update, not an earlier one: a new updated_time
                settled = settled and stack.get("updated_time") != changed_from
            if settled:
                return stack
            time.sleep(0.25)
        import faulthandler  # DEBUG-TEMP
        with open("/tmp/heat-threads.txt", "w") as f:  # DEBUG-TEMP
            faulthandler.dump_traceback(f, all_threads=True)  # DEBUG-TEMP
        raise AssertionError(f"stack {identity['stack_name']} still "
                             f"{stack.get('stack_action')} {stack.get('stack_status')} "
                             f"after {timeout:g} s")


@contextlib.contextmanager
def ndovu_config(**values: Any) -> Iterator[None]:
    """Override [ndovu] options for one block, then put the previous values back (the
    plugin registered the options when Heat loaded it)."""
    previous = {key: cfg.CONF.ndovu[key] for key in values}
    for key, value in values.items():
        cfg.CONF.set_override(key, value, group="ndovu")
    try:
        yield
    finally:
        for key, value in previous.items():
            cfg.CONF.set_override(key, value, group="ndovu")
