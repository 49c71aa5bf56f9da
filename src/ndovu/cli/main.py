"""The ``ndovu`` command: wires the commands together, nothing else."""

from __future__ import annotations

import typer

from ndovu.cli.commands import (
    audit,
    catalog_list,
    catalog_show,
    cluster_create,
    cluster_delete,
    cluster_events,
    cluster_list,
    cluster_resize,
    cluster_scale,
    cluster_show,
    cluster_start,
    cluster_stop,
    datastore,
    login,
    machine,
    network,
    operation_show,
    pool,
    server,
    user,
)

app = typer.Typer(name="ndovu", no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="ndovu: clusters as a service on your private cloud.")

cluster = typer.Typer(no_args_is_help=True,
                      help="Create, inspect, stop, start, resize and delete clusters.")
cluster.command("create")(cluster_create.create)
cluster.command("list")(cluster_list.list_clusters)
cluster.command("show")(cluster_show.show)
cluster.command("delete")(cluster_delete.delete)
cluster.command("stop")(cluster_stop.stop)
cluster.command("start")(cluster_start.start)
cluster.command("resize")(cluster_resize.resize)
cluster.command("scale")(cluster_scale.scale)
cluster.command("events")(cluster_events.events)

catalog = typer.Typer(no_args_is_help=True, help="The cluster types this server offers.")
catalog.command("list")(catalog_list.list_types)
catalog.command("show")(catalog_show.show)

operation = typer.Typer(no_args_is_help=True, help="Follow what the server is doing.")
operation.command("show")(operation_show.show)

users = typer.Typer(no_args_is_help=True,
                    help="Accounts (all but changing your own password need an admin).")
users.command("create")(user.create)
users.command("list")(user.list_users)
users.command("passwd")(user.passwd)
users.command("disable")(user.disable)
users.command("enable")(user.enable)
users.command("delete")(user.delete)

networks = typer.Typer(no_args_is_help=True,
                       help="Networks: address pools whose blocks give nodes their addresses.")
networks.command("create")(network.create)
networks.command("list")(network.list_networks)
networks.command("show")(network.show)
networks.command("update")(network.update)
networks.command("delete")(network.delete)

pools = typer.Typer(no_args_is_help=True,
                    help="Resource pools: CPU and memory limits for the clusters in them.")
pools.command("create")(pool.create)
pools.command("list")(pool.list_pools)
pools.command("show")(pool.show)
pools.command("delete")(pool.delete)

datastores = typer.Typer(no_args_is_help=True, help="Datastores a cluster may name.")
datastores.command("create")(datastore.create)
datastores.command("list")(datastore.list_datastores)
datastores.command("delete")(datastore.delete)

machines = typer.Typer(no_args_is_help=True,
                       help="Machines: registered hosts the machines provider puts nodes on.")
machines.command("add")(machine.add)
machines.command("list")(machine.list_machines)
machines.command("show")(machine.show)
machines.command("remove")(machine.remove)

app.command("server")(server.server)
app.command("engine")(server.engine)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.add_typer(users, name="user")
app.command("audit")(audit.audit)
app.add_typer(cluster, name="cluster")
app.add_typer(catalog, name="catalog")
app.add_typer(operation, name="operation")
app.add_typer(networks, name="network")
app.add_typer(pools, name="pool")
app.add_typer(datastores, name="datastore")
app.add_typer(machines, name="machine")
