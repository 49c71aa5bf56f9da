"""The FastAPI application: routes, error handlers, and the injected process context."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from ndovu import __version__
from ndovu.api import errors
from ndovu.api.auth import require_user
from ndovu.api.deps import ApiContext
from ndovu.api.routes import auth, catalog, clusters, lifecycle, operations


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

    @app.get("/v1/health", tags=["server"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
