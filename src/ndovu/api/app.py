"""The FastAPI application: routes, error handlers, and the injected process context."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from ndovu import __version__
from ndovu.api import errors
from ndovu.api.auth import require_session, require_user
from ndovu.api.deps import ApiContext
from ndovu.api.limits import BodyLimit
from ndovu.api.routes import (
    auth,
    catalog,
    clusters,
    depot,
    lifecycle,
    machines,
    metrics,
    operations,
    resources,
)
from ndovu.api.schemas import UNAUTHENTICATED
from ndovu.api.serengeti import auth as serengeti_auth
from ndovu.api.serengeti import clusters as serengeti_clusters
from ndovu.api.serengeti import resources as serengeti_resources


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(title="ndovu", version=__version__,
                  description="Cluster-as-a-service for private clouds. Mutating calls answer "
                              "202 with an operation (BDE TaskRead) to follow.")
    app.state.ndovu = ctx
    errors.install(app)
    authenticated = [Depends(require_user)]
    app.include_router(auth.router)
    app.include_router(clusters.router, dependencies=authenticated)
    app.include_router(lifecycle.router, dependencies=authenticated)
    app.include_router(operations.router, dependencies=authenticated)
    app.include_router(catalog.router, dependencies=authenticated)
    app.include_router(resources.router, dependencies=authenticated)
    app.include_router(machines.router, dependencies=authenticated)  # administrators only
    app.include_router(depot.router)  # nodes download software: no login (see its module)
    app.include_router(metrics.router)  # Prometheus: aggregates only, no login (see its module)
    # BDE's API: form login, then the session cookie
    app.include_router(serengeti_auth.router)
    in_session = [Depends(require_session)]
    app.include_router(serengeti_clusters.router, dependencies=in_session,
                       responses=UNAUTHENTICATED)
    app.include_router(serengeti_resources.router, dependencies=in_session,
                       responses=UNAUTHENTICATED)
    # outermost: an oversized body is refused before anything reads it
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)

    @app.get("/v1/health", tags=["server"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
