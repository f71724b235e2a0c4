"""The gallery's web app (Starlette): the static page, its JSON API, the pictures, and the guards
every request passes.

Guards: on loopback, the Host header must name loopback (no DNS rebinding) and every write
carries the page's token in ``X-Token`` (another site cannot send that header). Bound beyond
loopback, every request needs the token: in the URL once (then a cookie), or in the header. A
bad request is a JSON ``{"error": ...}`` with status 400, and the server keeps running.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import secrets
import sys
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..data.decode import BadImage
from ..errors import LatentfolioError
from . import actions, create, files, views
from .selection import export_folder, export_list
from .state import Gallery
from .thumbs import PREVIEW, picture, placeholder, webp

STATIC = Path(__file__).parent / "static"
# 'unsafe-eval': plotly's WebGL traces compile their shaders' glue with new Function (regl).
# No inline script runs: the page's one script is a file, and every name is set as text.
CSP = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def is_loopback(host: str) -> bool:
    """True for a name or address of this machine's loopback (``localhost``, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


HOST = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::[0-9]{1,5})?")


def host_name(header: str) -> str:
    """The name in a Host header (``name``, ``name:port``, ``[v6]:port``), or "" when the header
    is anything else (``127.0.0.1:80@evil.example`` is not loopback)."""
    m = HOST.fullmatch(header.strip())
    return (m[1] or m[2]) if m else ""


def _error(e: Exception, status: int = 400) -> JSONResponse:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return JSONResponse({"error": msg}, status_code=status)


def _int(v, name: str, lo: int = 1, hi: int = 1000) -> int:
    try:
        x = int(v)
    except (TypeError, ValueError):
        raise LatentfolioError(f"{name}={v!r}: expected a whole number") from None
    if not lo <= x <= hi:
        raise LatentfolioError(f"{name}={x}: must be from {lo} to {hi}")
    return x


def _text(v, name: str, limit: int = 4096) -> str:
    """A string field of a request: text, without NUL or other control characters, and short
    enough for a path (every component at most 255 bytes)."""
    if v is None:
        v = ""
    if not isinstance(v, str):
        raise LatentfolioError(f"{name}: expected text")
    if len(v) > limit or any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in v.split("/")):
        raise LatentfolioError(f"{name}: too long")
    if any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise LatentfolioError(f"{name}: holds a control character")
    return v


def _int_list(v, name: str, limit: int = 1_000_000) -> list[int] | None:
    """A list of whole numbers (or None where the field may be left out)."""
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > limit or not all(type(x) is int for x in v):
        raise LatentfolioError(f"{name}: expected a list of whole numbers")
    return v


def _keepers(v) -> dict:
    """{group index (as text): image id} of the duplicates view."""
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and k.isdigit() and type(x) is int for k, x in v.items()):
        raise LatentfolioError("keepers: expected {group: image id} with whole numbers")
    return v


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes whether or not the client said its length."""
    said = request.headers.get("content-length")
    if said and said.isdigit() and int(said) > limit:
        raise LatentfolioError(f"the upload is {int(said):,} bytes; the limit is {limit:,}")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LatentfolioError(f"the upload is over the {limit:,} byte limit")
        parts.append(chunk)
    return b"".join(parts)


def _synced(g: Gallery, fn, request, args):
    g.sync()  # another process's committed changes, once whole
    return fn(request, args)


def endpoint(g: Gallery, fn, body: str | None = None):
    """An async route that reads the body (``json`` or ``bytes``) and runs ``fn`` in a thread,
    on the catalog's latest whole state."""
    async def route(request: Request):
        try:
            if body == "json":
                data = await request.body()
                try:
                    args = json.loads(data or b"{}")
                except ValueError:
                    raise LatentfolioError("the request is not JSON") from None
                if not isinstance(args, dict):
                    raise LatentfolioError("the request is not a JSON object")
            elif body == "bytes":
                args = await _bounded_body(request, views.MAX_UPLOAD)
            else:
                args = None
            out = await run_in_threadpool(_synced, g, fn, request, args)
        except (LatentfolioError, BadImage) as e:
            return _error(e)
        except OSError as e:  # the disk's word on a path the user gave (too long, no permission, full)
            return _error(LatentfolioError(f"{e.filename or 'the file'}: {e.strerror or e}"))
        except Exception as e:  # a bug: said (in the page and on the server's stderr), and the server goes on
            print(f"serve: internal error on {request.url.path}: {type(e).__name__}: {e}", file=sys.stderr)
            return _error(RuntimeError(f"internal error: {type(e).__name__}: {e}"), 500)
        return out if isinstance(out, Response) else JSONResponse(out)
    return route


def _pictures(g: Gallery) -> list[Route]:
    """The page, and the pictures: thumbnails, previews, reconstructions, what Create made."""
    def page(request):
        text = (STATIC / "index.html").read_text().replace("{{TOKEN}}", html.escape(g.token, quote=True))
        return HTMLResponse(text.replace("{{TITLE}}", html.escape(g.path.name)))

    def thumb(request, _):
        r = g.row(request.path_params["id"])
        if r is None:
            raise LatentfolioError("no such image")
        data = g.thumbs.get(g.cat, r) or placeholder()
        return Response(data, media_type="image/webp", headers={"Cache-Control": "max-age=86400"})

    def preview(request, _):
        r = g.row(request.path_params["id"])
        if r is None:
            raise LatentfolioError("no such image")
        return Response(webp(picture(g.cat, r, PREVIEW)), media_type="image/webp")

    def recon(request, _):
        return Response(views.reconstruction(g, request.path_params["id"])[0], media_type="image/png")

    def made(request, _):
        key = ("made", request.path_params["key"], request.path_params["file"])
        data = g.pictures.get(key)
        if data is None:
            raise LatentfolioError("that picture is gone; make it again")
        kind = "image/gif" if key[2].endswith(".gif") else "image/png"
        return Response(data, media_type=kind, headers={"Content-Disposition": f'inline; filename="{key[2]}"'})

    def original(request, _):
        """The file itself, byte for byte: shown where the browser can, else downloaded. Its own
        policy sandboxes it (no script of a planted file runs on the gallery's origin)."""
        path = files.original_path(g, request.path_params["id"])
        return FileResponse(path, media_type=files.media_type(path), filename=Path(path).name,
                            content_disposition_type="inline",
                            headers={"Content-Security-Policy": "sandbox", "Cache-Control": "no-store"})

    return [Route("/", page),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/api/thumb/{id:int}", endpoint(g, thumb)), Route("/api/image/{id:int}", endpoint(g, preview)),
            Route("/api/recon/{id:int}", endpoint(g, recon)), Route("/api/original/{id:int}", endpoint(g, original)), Route("/api/made/{key}/{file}", endpoint(g, made))]


def build_app(g: Gallery) -> Starlette:
    q = lambda request, name, default=None: request.query_params.get(name, default)  # noqa: E731
    routes = _pictures(g) + [
        Route("/api/summary", endpoint(g, lambda r, _: views.summary(g))),
        Route("/api/points", endpoint(g, lambda r, _: Response(views.points_json(g), media_type="application/json"))),
        Route("/api/info/{id:int}", endpoint(g, lambda r, _: views.image_page(g, r.path_params["id"], _int(q(r, "k", 12), "k")))),
        Route("/api/search", endpoint(g, lambda r, data: views.search_upload(
            g, data, _text(r.headers.get("x-filename", "upload"), "file name"), _int(q(r, "k", 12), "k")), "bytes"),
            methods=["POST"]),
        Route("/api/search-path", endpoint(g, lambda r, a: views.search_file(
            g, Path(_text(a.get("path"), "path")).expanduser(), _int(a.get("k", 12), "k")), "json"), methods=["POST"]),
        Route("/api/outliers", endpoint(g, lambda r, _: views.outliers(g, _int(q(r, "top", 100), "top", 1, 100000)))),
        Route("/api/duplicates", endpoint(g, lambda r, _: actions.duplicates(
            g, None if q(r, "threshold") in (None, "") else _float(q(r, "threshold")), _text(q(r, "keep", "largest"), "keep"),
            _float(q(r, "same_psnr", 32))))),
        Route("/api/duplicates/plan", endpoint(g, lambda r, a: actions.plan(
            g, _text(a.get("plan"), "plan"), _int_list(a.get("groups"), "groups"), _keepers(a.get("keepers"))), "json"),
            methods=["POST"]),
        Route("/api/duplicates/apply", endpoint(g, lambda r, a: actions.apply(
            g, _text(a.get("plan"), "plan"), _int_list(a.get("groups"), "groups"), _keepers(a.get("keepers")),
            _text(a.get("mode", "move"), "mode")), "json"), methods=["POST"]),
        Route("/api/journals", endpoint(g, lambda r, _: actions.journals(g))),
        Route("/api/undo", endpoint(g, lambda r, a: actions.undo(g, _text(a.get("journal"), "journal", 255)), "json"),
              methods=["POST"]),
        Route("/api/clusters", endpoint(g, lambda r, _: views.clusters(g))),
        Route("/api/clusters/images", endpoint(g, lambda r, _: views.cluster_images(
            g, _int(q(r, "cluster"), "cluster", -1, 10**6), _int(q(r, "offset", 0), "offset", 0, 10**9), _int(q(r, "limit", 200), "limit")))),
        Route("/api/folders", endpoint(g, lambda r, _: {"folders": files.folders(g)})),
        Route("/api/browse", endpoint(g, lambda r, _: files.browse(
            g, _text(q(r, "folder", ""), "folder"), _text(q(r, "sort", "name"), "sort"), q(r, "order") == "desc",
            _int(q(r, "offset", 0), "offset", 0, 10**9), _int(q(r, "limit", files.PAGE), "limit", 1, 1000),
            q(r, "below", "1") != "0"))),
        Route("/api/facts/{id:int}", endpoint(g, lambda r, _: files.facts(g, r.path_params["id"]))),
        Route("/api/unreadable", endpoint(g, lambda r, _: files.unreadable(g))),
        Route("/api/clusters/compute", endpoint(g, lambda r, a: actions.compute_clusters(
            g, None if a.get("k") in (None, "") else _int(a["k"], "k", 2, 1000)), "json"), methods=["POST"]),
        Route("/api/clusters/rename", endpoint(g, lambda r, a: actions.rename_cluster(
            g, _int(a.get("cluster"), "cluster", -1, 100000), _text(a.get("name"), "name", 255)), "json"), methods=["POST"]),
        Route("/api/clusters/write", endpoint(g, lambda r, a: actions.write_folders(
            g, _text(a.get("out"), "out"), _text(a.get("mode", "symlink"), "mode"), a.get("force") is True), "json"),
            methods=["POST"]),
        Route("/api/create", endpoint(g, lambda r, a: create.create(g, _int_list(a.get("ids"), "ids") or []), "json"),
              methods=["POST"]),
        Route("/api/export", endpoint(g, lambda r, a: export_list(g, _int_list(a.get("ids"), "ids") or [],
                                                                 _text(a.get("format", "csv"), "format")), "json"),
              methods=["POST"]),
        Route("/api/export-folder", endpoint(g, lambda r, a: export_folder(g, _int_list(a.get("ids"), "ids") or [],
                                                                          _text(a.get("out"), "out")), "json"),
              methods=["POST"]),
        Route("/api/rescan", endpoint(g, lambda r, _: actions.rescan(g).as_dict()), methods=["POST"]),
        Route("/api/tasks", endpoint(g, lambda r, _: {k: t.as_dict() for k, t in g.tasks.items()})),
    ]
    app = Starlette(routes=routes)
    return Guard(app, g)


def _float(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise LatentfolioError(f"{v!r}: expected a number") from None
    if not np.isfinite(x):
        raise LatentfolioError(f"{v!r}: expected a finite number")
    return x


class Guard:
    """ASGI middleware: the Host check, the token, and the security headers of every response."""

    def __init__(self, app, g: Gallery):
        self.app, self.g = app, g

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = host_name(headers.get("host", ""))
        query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode("latin-1").split("&") if "=" in p)
        cookies = dict(c.strip().split("=", 1) for c in headers.get("cookie", "").split(";") if "=" in c)
        token = self.g.token
        given = headers.get("x-token") or query.get("token") or cookies.get("lf_token") or ""
        ok_token = secrets.compare_digest(given.encode(), token.encode())
        why = None
        if not self.g.remote and not is_loopback(host):
            why = (421, "this gallery answers on loopback only")
        elif self.g.remote and not ok_token:
            why = (403, "this gallery needs its token: open the URL that `latentfolio serve` printed")
        elif scope["method"] not in ("GET", "HEAD") and not secrets.compare_digest(headers.get("x-token", "").encode(),
                                                                                    token.encode()):
            why = (403, "a change needs the page's token (reload the page)")
        if why:
            return await JSONResponse({"error": why[1]}, status_code=why[0])(scope, receive, send)
        set_cookie = self.g.remote and query.get("token") == token

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                if set_cookie:
                    extra.append((b"set-cookie", f"lf_token={token}; HttpOnly; SameSite=Strict; Path=/".encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)
        return await self.app(scope, receive, send_with_headers)
