"""What both Heat resource types share: a cluster on an ndovu server, its lifecycle,
validation and attributes (the types themselves are in ``resources``).

Each lifecycle step is one ndovu operation, started in ``handle_*`` and awaited in
``check_*_complete`` by polling ``GET /v1/operations/{id}`` (one short request per
poll, so Heat's stack timeout holds). The resource's physical id is the cluster name.
Nothing secret is stored in the resource's data, status reasons or events: tokens live
in this process only, and the messages are the server's, which never repeat a secret.
"""

from __future__ import annotations

import time
from typing import Any

from heat.common import exception
from heat.engine import attributes, constraints, properties, resource
from oslo_log import log as logging

from . import attributes as attrs
from . import checks, client, cluster_spec, connection, options, outcome

LOG = logging.getLogger(__name__)

ATTRIBUTE_TYPES = {
    attrs.NAME: attributes.Schema.STRING,
    attrs.STATUS: attributes.Schema.STRING,
    attrs.NODES: attributes.Schema.LIST,
    attrs.ADDRESSES: attributes.Schema.LIST,
    attrs.GROUP_ADDRESSES: attributes.Schema.MAP,
    attrs.ENDPOINTS: attributes.Schema.MAP,
    attrs.FLOATING_IPS: attributes.Schema.LIST,
}
ATTRIBUTE_CACHE_S = 2.0
NODE_GROUPS = "node_groups"

NODE_GROUPS_SCHEMA = properties.Schema(
    properties.Schema.LIST,
    "Per node group overrides of the cluster type's defaults, matched by group name. A "
    "change of instance_num resizes the group in place; of instance_type, cpu_num or "
    "memory_mb scales its nodes in place (where the ndovu provider can); of storage_gb "
    "replaces the cluster.",
    schema=properties.Schema(
        properties.Schema.MAP,
        schema={
            cluster_spec.NAME: properties.Schema(
                properties.Schema.STRING, "The node group's name in the cluster type.",
                required=True),
            cluster_spec.INSTANCE_NUM: properties.Schema(
                properties.Schema.INTEGER, "Number of nodes (within the type's range).",
                constraints=[constraints.Range(min=1)]),
            cluster_spec.INSTANCE_TYPE: properties.Schema(
                properties.Schema.STRING, "BDE instance type of the nodes.",
                constraints=[constraints.AllowedValues(
                    sorted(cluster_spec.INSTANCE_SIZES))]),
            cluster_spec.CPU_NUM: properties.Schema(
                properties.Schema.INTEGER, "CPUs per node.",
                constraints=[constraints.Range(min=1)]),
            cluster_spec.MEMORY_MB: properties.Schema(
                properties.Schema.INTEGER, "Memory per node in MB.",
                constraints=[constraints.Range(min=1)]),
            cluster_spec.STORAGE_GB: properties.Schema(
                properties.Schema.INTEGER, "Storage per node in GB.",
                constraints=[constraints.Range(min=1)]),
        }),
    update_allowed=True,
    default=[],
)

PASSWORD_HELP = (
    "A password for the cluster's nodes. Passed to ndovu, which refuses it with its "
    "reason when its provider cannot set node passwords (the local provider cannot), so "
    "the create fails with that reason. Never logged by the plugin; Heat itself shows "
    "resolved property values in event details, even from hidden parameters.")


class ClusterResource(resource.Resource):
    """What both types share: lifecycle, waiting, attributes, validation."""

    attributes_schema = {name: attributes.Schema(text, type=ATTRIBUTE_TYPES[name])
                         for name, text in attrs.DESCRIPTIONS.items()}

    # -- what each type defines ------------------------------------------------------------

    NAME_PROPERTY = ""
    TYPE_PROPERTY = ""
    # accepted for compatibility, not applied by ndovu's API (see docs/heat.md)
    IGNORED: tuple[str, ...] = ()

    def _template_connection(self, props: properties.Properties) -> dict[str, str | None]:
        """Endpoint and credentials named in the template (None: from heat.conf)."""
        return {}

    def _request(self) -> cluster_spec.ClusterRequest:
        raise NotImplementedError

    def _timeout_s(self) -> float | None:
        return None

    # -- connection ------------------------------------------------------------------------

    def _client(self) -> client.Client:
        # during an update, the new definition's endpoint and credentials (handle_update)
        props = getattr(self, "_update_props", None) or self.properties
        try:
            conn = connection.resolve(options.settings(), **self._template_connection(props))
        except (options.ConfigError, connection.SetupError) as exc:
            raise exception.Error(str(exc)) from exc
        return client.Client(conn)

    def _call(self, doing: str, fn: Any, *args: Any) -> Any:
        """A client call whose failure fails the action with ndovu's words (``doing``:
        e.g. "read cluster 'x'")."""
        try:
            return fn(*args)
        except client.ApiError as exc:
            raise exception.Error(f"ndovu refused to {doing}: {exc.message}") from exc
        except client.NdovuError as exc:
            raise exception.Error(f"cannot {doing}: {exc.message}") from exc

    def _cluster_name(self) -> str:
        return self.resource_id or self._request().name

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> Any:
        result = super().validate()
        name = self.properties[self.NAME_PROPERTY]
        groups = cluster_spec.overrides(self.properties[NODE_GROUPS])
        if name:
            problem = checks.name_problem(name, [g.name for g in groups])
            if problem:
                raise self._invalid(self.NAME_PROPERTY, problem)
        cluster_type = self.properties[self.TYPE_PROPERTY]
        if not cluster_type:
            return result  # not known yet (an intrinsic function still to resolve)
        try:
            api = self._client()
            kind = api.catalog_type(cluster_type)
            if kind is None:
                offered = [t["name"] for t in api.catalog().get("types", [])]
                raise self._invalid(self.TYPE_PROPERTY,
                                    checks.unknown_type(cluster_type, offered))
        except client.ApiError as exc:
            if exc.status >= 500 or exc.code == "login_refused":
                raise exception.StackValidationFailed(
                    message=f"cannot check the cluster against ndovu's catalog: "
                            f"{exc.message}", resource=self) from exc
            # the server's own words, e.g. "unknown cluster type 'x'; known types: ..."
            raise self._invalid(self.TYPE_PROPERTY, exc.message) from exc
        except client.NdovuError as exc:
            raise exception.StackValidationFailed(
                message=f"cannot check the cluster against ndovu's catalog: {exc.message}",
                resource=self) from exc
        except exception.Error as exc:
            raise exception.StackValidationFailed(message=str(exc), resource=self) from exc
        problems = checks.type_problems(kind, groups)
        if name:
            problem = checks.name_problem(name, [g["name"] for g in kind.get("nodeGroups", [])])
            if problem:
                problems.insert(0, problem)
        if problems:
            raise exception.StackValidationFailed(message="; ".join(problems), resource=self)
        return result

    def _invalid(self, prop: str, message: str) -> exception.StackValidationFailed:
        return exception.StackValidationFailed(
            message=message,
            path=[self.stack.t.RESOURCES, self.name,
                  self.stack.t.get_section_name("properties"), prop])

    # -- create ----------------------------------------------------------------------------

    def handle_create(self) -> dict[str, Any]:
        request = self._request()
        ignored = [p for p in self.IGNORED if self.properties[p]]
        if ignored:
            LOG.info("%s: ndovu does not apply %s; ignored", self.name, ", ".join(ignored))
        api = self._client()
        self._prepare(api, request)
        op = self._call(f"create cluster {request.name!r} on {api.endpoint}",
                        api.create_cluster, request.body())
        # only now: a refused create (e.g. a name taken) must never make this resource
        # delete somebody else's cluster later
        self.resource_id_set(request.name)
        LOG.info("%s: creating cluster %s on %s (operation %s)", self.name, request.name,
                 api.endpoint, op.get("id"))
        return self._waiting(op, f"create cluster {request.name!r}", "RUNNING")

    def _prepare(self, api: client.Client, request: cluster_spec.ClusterRequest) -> None:
        """What a resource type does on the server before its create (nothing here)."""

    def check_create_complete(self, data: dict[str, Any]) -> bool:
        return self._await(data)

    # -- update ----------------------------------------------------------------------------

    def needs_replace_with_prop_diff(self, changed_properties_set: Any, after_props: Any,
                                     before_props: Any) -> bool:
        if NODE_GROUPS not in changed_properties_set:
            return False
        return cluster_spec.storage_changed(
            cluster_spec.overrides(before_props[NODE_GROUPS]),
            cluster_spec.overrides(after_props[NODE_GROUPS]))

    def handle_update(self, json_snippet: Any, tmpl_diff: Any,
                      prop_diff: dict[str, Any]) -> dict[str, Any] | None:
        # Heat keeps the old properties on self until the update is done: credentials
        # and timeouts of the new definition apply from here on
        self._update_props = json_snippet.properties(self.properties_schema, self.context)
        if NODE_GROUPS not in prop_diff:
            return None
        api = self._client()
        name = self.resource_id
        cluster = self._call(f"read cluster {name!r}", api.get_cluster, name)
        if cluster is None:
            raise exception.Error(f"cluster {name!r} no longer exists on ndovu at "
                                  f"{api.endpoint}")
        kind = self._call(f"read cluster type {cluster.get('type')!r}",
                          api.catalog_type, cluster.get("type") or "") or {}
        steps = cluster_spec.update_steps(cluster, kind,
                                          cluster_spec.overrides(prop_diff[NODE_GROUPS]))
        if not steps:
            return None
        data = self._start_step(api, steps[0])
        data["steps"] = [s.to_dict() for s in steps[1:]]
        return data

    def _start_step(self, api: client.Client, step: cluster_spec.Step) -> dict[str, Any]:
        name = self.resource_id
        doing = step.describe(name)
        LOG.info("%s: %s", self.name, doing)
        if step.kind == "resize":
            op = self._call(doing, api.resize_group, name, step.group, step.count)
        else:
            op = self._call(doing, api.scale_group, name, step.group, step.cpu,
                            step.memory_mb)
        return self._waiting(op, doing, "RUNNING")

    def check_update_complete(self, data: dict[str, Any] | None) -> bool:
        if not data:
            return True
        if not self._await(data):
            return False
        if not data.get("steps"):
            return True
        steps = [cluster_spec.Step.from_dict(s) for s in data["steps"]]
        data.clear()
        data.update(self._start_step(self._client(), steps[0]))
        data["steps"] = [s.to_dict() for s in steps[1:]]
        return False

    # -- suspend / resume ------------------------------------------------------------------

    def handle_suspend(self) -> dict[str, Any] | None:
        return self._power("stop", "STOPPED")

    def check_suspend_complete(self, data: dict[str, Any] | None) -> bool:
        return not data or self._await(data)

    def handle_resume(self) -> dict[str, Any] | None:
        return self._power("start", "RUNNING")

    def check_resume_complete(self, data: dict[str, Any] | None) -> bool:
        return not data or self._await(data)

    def _power(self, verb: str, want: str) -> dict[str, Any] | None:
        if not self.resource_id:
            return None
        api = self._client()
        call = api.stop_cluster if verb == "stop" else api.start_cluster
        try:
            op = call(self.resource_id)
        except client.ApiError as exc:
            cluster = self._call(f"read cluster {self.resource_id!r}", api.get_cluster,
                                 self.resource_id)
            if exc.status == 409 and cluster and cluster.get("status") == want:
                return None  # already there
            raise exception.Error(f"ndovu refused to {verb} cluster {self.resource_id!r}: "
                                  f"{exc.message}") from exc
        except client.NdovuError as exc:
            raise exception.Error(f"cannot {verb} cluster {self.resource_id!r}: "
                                  f"{exc.message}") from exc
        return self._waiting(op, f"{verb} cluster {self.resource_id!r}", want)

    # -- check -----------------------------------------------------------------------------

    def handle_check(self) -> None:
        name = self._cluster_name()
        api = self._client()
        cluster = self._call(f"check cluster {name!r}", api.get_cluster, name)
        problem = outcome.unhealthy(name, cluster)
        if problem:
            raise exception.Error(problem)

    # -- delete ----------------------------------------------------------------------------

    def handle_delete(self) -> dict[str, Any] | None:
        if not self.resource_id:
            return None
        api = self._client()
        try:
            op = api.delete_cluster(self.resource_id)
        except client.ApiError as exc:
            if exc.status != 409:  # 409: a delete is already running; await it
                raise exception.Error(f"ndovu refused to delete cluster "
                                      f"{self.resource_id!r}: {exc.message}") from exc
            op = {}
        except client.NdovuError as exc:
            raise exception.Error(f"cannot delete cluster {self.resource_id!r}: "
                                  f"{exc.message}") from exc
        if op is None:
            return None  # already gone: nothing to wait for
        return {"op": op.get("id"), "doing": f"delete cluster {self.resource_id!r}"}

    def check_delete_complete(self, data: dict[str, Any] | None) -> bool:
        if not data:
            return True
        api = self._client()
        try:
            if data.get("op") is not None:
                op = api.get_operation(data["op"])
                if not outcome.finished(op):
                    return False
                if op.get("status") == "FAILED":
                    cluster = api.get_cluster(self.resource_id)
                    outcome.check_finished(data["doing"], op, cluster, "")
                data["op"] = None
            return api.get_cluster(self.resource_id) is None
        except client.NdovuError as exc:
            return self._tolerate(data, exc)
        except outcome.Failure as failure:
            raise exception.ResourceInError(resource_status=failure.status,
                                            status_reason=failure.message) from failure

    # -- waiting ---------------------------------------------------------------------------

    def _waiting(self, op: dict[str, Any], doing: str, want: str) -> dict[str, Any]:
        timeout = self._timeout_s()
        return {"op": op.get("id"), "doing": doing, "want": want,
                "deadline": None if timeout is None else time.monotonic() + timeout,
                "timeout": timeout, "seen": None}

    def _await(self, data: dict[str, Any]) -> bool:
        """One poll of the awaited operation: done, not yet, or a failure with ndovu's
        own error text."""
        name = self._cluster_name()
        api = self._client()
        try:
            op = api.get_operation(data["op"])
            if not outcome.finished(op):
                data.pop("failing_since", None)
                self._note_progress(data, op)
                self._check_deadline(data, op)
                return False
            cluster = api.get_cluster(name)
        except client.NdovuError as exc:
            return self._tolerate(data, exc)
        try:
            outcome.check_finished(data["doing"], op, cluster, data["want"])
        except outcome.Failure as failure:
            raise exception.ResourceInError(resource_status=failure.status,
                                            status_reason=failure.message) from failure
        LOG.info("%s: cluster %s is %s", self.name, name, data["want"])
        return True

    def _note_progress(self, data: dict[str, Any], op: dict[str, Any]) -> None:
        seen = outcome.progress(op)
        if seen != data.get("seen"):
            data["seen"] = seen
            LOG.info("%s: %s", self.name, seen)

    def _check_deadline(self, data: dict[str, Any], op: dict[str, Any]) -> None:
        if data.get("deadline") is None or time.monotonic() < data["deadline"]:
            return
        raise exception.Error(
            f"ndovu's operation to {data['doing']} did not finish within the resource's "
            f"timeout of {data['timeout']:g} s: {outcome.progress(op)} (it goes on on the "
            "server; delete the stack or the resource to remove the cluster)")

    def _tolerate(self, data: dict[str, Any], exc: client.NdovuError) -> bool:
        """A failed poll: transient errors are retried for [ndovu] poll_failure_grace
        seconds in a row; anything else fails the action."""
        if not exc.retryable:
            raise exception.Error(f"while waiting for ndovu to {data.get('doing')}: "
                                  f"{exc.message}") from exc
        now = time.monotonic()
        since = data.setdefault("failing_since", now)
        grace = options.settings().poll_failure_grace
        if now - since > grace:
            raise exception.Error(f"gave up waiting for ndovu to {data.get('doing')} after "
                                  f"{grace:g} s of failed polls: {exc.message}") from exc
        LOG.warning("%s: polling ndovu failed, retrying: %s", self.name, exc.message)
        return False

    # -- attributes ------------------------------------------------------------------------

    def _cluster_read(self) -> dict[str, Any] | None:
        if not self.resource_id:
            return None
        cached = getattr(self, "_read_cache", None)
        if cached and time.monotonic() - cached[0] < ATTRIBUTE_CACHE_S:
            return cached[1]
        api = self._client()
        cluster = self._call(f"read cluster {self.resource_id!r}", api.get_cluster,
                             self.resource_id)
        self._read_cache = (time.monotonic(), cluster)
        return cluster

    def _resolve_attribute(self, name: str) -> Any:
        return attrs.value(name, self._cluster_read())

    def _show_resource(self) -> dict[str, Any]:
        return self._cluster_read() or {}
