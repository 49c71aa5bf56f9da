"""The FastAPI application: routes, error handlers, and the injected process context."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from ndovu import __version__
from ndovu.api import errors
from ndovu.api.audit import Audit
from ndovu.api.auth import require_session, require_user
from ndovu.api.deps import ApiContext
from ndovu.api.limits import BodyLimit
from ndovu.api.routes import (
    audit,
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
from ndovu.api.schemas import FORBIDDEN, UNAUTHENTICATED
from ndovu.api.serengeti import auth as serengeti_auth
from ndovu.api.serengeti import clusters as serengeti_clusters
from ndovu.api.serengeti import resources as serengeti_resources

DOCS_ASSETS = "/docs/assets"


def create_app(ctx: ApiContext) -> FastAPI:
    # the interactive docs from the package's own copy of Swagger UI, never from a CDN
    # (a server in a closed network, and no third-party script next to its tokens)
    app = FastAPI(title="ndovu", version=__version__, docs_url=None, redoc_url=None,
                  description="Cluster-as-a-service for private clouds. Mutating calls answer "
                              "202 with an operation (BDE TaskRead) to follow.")
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="ndovu API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")
    app.state.ndovu = ctx
    errors.install(app)
    authenticated = [Depends(require_user)]
    app.include_router(auth.router)  # declares per route what it needs
    app.include_router(audit.router)  # administrators only
    for router in (clusters.router, lifecycle.router, operations.router, catalog.router,
                   resources.router):
        app.include_router(router, dependencies=authenticated, responses=UNAUTHENTICATED)
    app.include_router(machines.router, dependencies=authenticated,  # administrators only
                       responses={**UNAUTHENTICATED, **FORBIDDEN})
    app.include_router(depot.router)  # nodes download software: no login (see its module)
    app.include_router(metrics.router)  # Prometheus: aggregates only, no login (see its module)
    # BDE's API: form login, then the session cookie
    app.include_router(serengeti_auth.router)
    in_session = [Depends(require_session)]
    app.include_router(serengeti_clusters.router, dependencies=in_session,
                       responses=UNAUTHENTICATED)
    app.include_router(serengeti_resources.router, dependencies=in_session,
                       responses=UNAUTHENTICATED)
    # an oversized body is refused before anything reads it
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    # outermost: every change asked for is recorded, refused ones (413 included) too
    app.add_middleware(Audit, store=ctx.store)

    @app.get("/v1/health", tags=["server"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
