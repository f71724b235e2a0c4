"""``latentfolio serve``: the gallery on a real ASGI server (uvicorn), until Ctrl-C.

It binds to loopback unless told otherwise; any other address needs the token, which the
printed URL carries. A folder is indexed first (with ``--model``), then the map is placed if
the catalog has none, and the thumbnails are built in the background while the page is up.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from ..catalog.store import META
from ..commands.index import index
from ..errors import ArgumentError, LatentfolioError
from ..saved import CONFIG, WEIGHTS
from .actions import build_thumbnails
from .app import build_app, is_loopback
from .protocol import LimitedH11, raise_file_limit
from .state import Gallery
from .views import points_json


def claim_port(host: str, port: int) -> int:
    """The port the gallery will listen on (``0``: a free one), checked by binding it now, so a
    bad ``--host`` or a taken ``--port`` is one line before any indexing."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
            return s.getsockname()[1]
    except OSError as e:
        raise LatentfolioError(f"{host}:{port}: cannot listen there ({e.strerror or e}); "
                               "try another --host, or --port 0 for any free port") from None


def free_port(host: str) -> int:
    return claim_port(host, 0)


def prepare(source, model_dir=None, out=None, log=None) -> Path:
    """A catalog folder to serve: ``source`` itself, or the catalog of the image folder
    ``source`` (made or brought up to date with ``model_dir``)."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    src = Path(source)
    if (src / META).exists():
        return src
    if not src.is_dir():
        raise LatentfolioError(f"{src}: no such catalog or folder")
    if (src / CONFIG).is_file() and (src / WEIGHTS).is_file():
        raise LatentfolioError(f"{src}: is a model folder, not a catalog; index a folder with it first "
                               f"(latentfolio index {src} FOLDER), or give the folder: serve FOLDER --model {src}")
    if model_dir is None:
        raise LatentfolioError(f"{src}: is a folder of images, not a catalog; give --model MODEL_DIR to index it")
    cat = Path(out or f"{src.resolve().name}.catalog")
    r = index(model_dir, str(src), cat)
    log(f"{cat}: {r['images']} images ({r['added']} added, {r['changed']} changed, {r['removed']} removed, "
        f"{r['bad']} bad)")
    return cat


def _open_page(url: str) -> bool:
    """Open ``url`` in the user's browser -> whether one was started. Without a display (a server,
    an SSH session) the text browsers webbrowser falls back to would take over the terminal."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def serve(source, *, model_dir=None, catalog=None, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False,
          token: str | None = None, ready=None, stop: threading.Event | None = None) -> dict:
    """Serve the gallery of ``source`` (a catalog, or an image folder with ``model_dir``) until
    Ctrl-C (or ``stop`` is set). ``ready(url)`` is called once it answers."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise ArgumentError("port", port, "must be from 0 (any free port) to 65535")
    remote = not is_loopback(host)
    port = claim_port(host, port)
    path = prepare(source, model_dir, catalog)
    g = Gallery(path, model_dir=model_dir, token=token, remote=remote)
    try:
        if model_dir is not None:
            g.model()  # another model than the catalog's: one line now, not on the first search
        g.ensure_map(log=lambda m: print(m, file=sys.stderr, flush=True))
        build_thumbnails(g)
        points_json(g)  # the map's first load need not wait for it
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        url = f"http://{shown}:{port}/" + (f"?token={g.token}" if remote else "")
        raise_file_limit()
        config = uvicorn.Config(build_app(g), host=host.strip("[]"), port=port, log_level="warning",
                                access_log=False, lifespan="off", http=LimitedH11, timeout_keep_alive=5)
        server = uvicorn.Server(config)
        done = threading.Event()

        def announce():
            while not server.started and not done.is_set():
                done.wait(0.05)
            if server.started:
                print(f"serving {path} at {url}  (Ctrl-C stops)", file=sys.stderr, flush=True)
                if open_browser and not _open_page(url):
                    print(f"--open: no browser could be started here (no display?); open {url} yourself",
                          file=sys.stderr, flush=True)
                if ready:
                    ready(url)
        threading.Thread(target=announce, daemon=True).start()
        if stop is not None:
            threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn shut down cleanly, then passed Ctrl-C on: the normal way out
            pass
        except SystemExit:  # uvicorn's way of saying it could not start (taken since claim_port)
            pass
        finally:
            done.set()
        if not server.started:
            raise LatentfolioError(f"{host}:{port}: could not listen there (in use?); try --port 0")
        return {"catalog": str(path), "url": url}
    finally:
        g.close()
