"""The API page, `/docs`, served without the internet: Swagger UI's files come from an installed package.

FastAPI's default `/docs` loads Swagger UI's script and stylesheet from a public CDN and its favicon
from FastAPI's site, so on an air-gapped cluster the page is blank. Following FastAPI's self-hosting
recipe, the same page is served here with its assets from the `swagger-ui-bundle-v2` package (Swagger UI
5, which reads the OpenAPI 3.1 schema FastAPI writes), mounted under `ASSETS_PATH`. ReDoc (`/redoc`) is
not served: no maintained package ships its script, and a page that is blank offline is worse than none.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


def swagger_ui_dir() -> str:
    """The folder of Swagger UI's distribution files inside the installed package."""
    import swagger_ui_bundle

    path: str = swagger_ui_bundle.swagger_ui_path
    return path


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI over `app.openapi_url`) and its assets from the installed package.
    `app` must have been created with `docs_url=None` and `redoc_url=None`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
