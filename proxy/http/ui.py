"""GET /ui: the memory inspector, a static page shipped in the package (proxy/ui/). The page
itself is open; every call it makes goes to the /memories API with the admin key the operator
typed in, under that API's rules.

The files are read once and served from memory from a fixed list: no path from the request
ever reaches the file system. A strict Content-Security-Policy allows only the page's own
script and style, and calls to this origin.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from proxy.core.errors import NotFound
from proxy.ui import FILES

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

ASSETS = FILES
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("proxy.ui").joinpath(name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


@router.get("/ui")
async def inspector() -> Response:
    return _serve("index.html")


@router.get("/ui/")
async def inspector_slash() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=308)


@router.get("/ui/{name}")
async def inspector_asset(name: str) -> Response:
    if name not in ASSETS or name == "index.html":
        raise NotFound(f"no inspector file {name!r}", param="name")
    return _serve(name)
