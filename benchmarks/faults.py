"""The reliability probe's fault families: kill -9 at named points and at random moments, two
writers on one catalog, hostile journals, manifests and catalog files, and the gallery's server
under malformed, held and concurrent requests while an index run changes its catalog.

Run by ``python -m benchmarks.reliability``. Each case ends "as intended" or counts as one of
what must never happen: a code paired with another image, a file outside the collection read,
moved or deleted, a server error (HTTP 5xx), or a hang.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "v1"
MODEL = FIXTURES / "model"


def _count() -> dict:
    return {"cases": 0, "intended": 0, "wrong": 0, "outside": 0, "server_errors": 0, "hangs": 0}


def _cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run([sys.executable, "-m", "latentfolio.cli", *map(str, args)], capture_output=True,
                          text=True, env=e, timeout=timeout)


def _shapes(root: Path, n: int, seed: int, size: int = 16) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.zeros((size, size), np.uint8)
        x, y = rng.integers(0, size // 2, 2)
        a[y:y + size // 3, x:x + size // 3] = rng.integers(80, 255)
        Image.fromarray(a).save(root / f"{i:03d}.png")


def _codes(catalog: Path) -> dict | None:
    """path -> code bytes, or None where the catalog refuses to open (said, never wrong)."""
    from latentfolio.catalog import Catalog
    from latentfolio.errors import LatentfolioError

    try:
        cat = Catalog(catalog)
    except LatentfolioError:
        return None
    try:
        lat = np.asarray(cat.latents())
        return {r["path"]: lat[r["row"]].tobytes() for r in cat.rows("path, row")}
    finally:
        cat.close()


def _tree(root: Path) -> dict:
    import hashlib

    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _indexed(tmp: Path, name: str, n: int, seeds: tuple[int, int]) -> tuple[Path, Path, dict]:
    """Two folders of ``n`` shapes, indexed -> (folder, catalog, its codes by path)."""
    import latentfolio as lf

    src = tmp / f"{name}-art"
    _shapes(src / "a", n, seeds[0])
    _shapes(src / "b", n, seeds[1])
    cat = tmp / f"{name}-base.catalog"
    lf.index(MODEL, src, cat, workers=0, progress=False, features=["none"])
    return src, cat, _codes(cat)


# --- kill points and random kills ------------------------------------------------------------------
def kills(tmp: Path, random_kills: int = 8) -> dict:
    import latentfolio as lf

    c = _count()
    src, base, before = _indexed(tmp, "k", 60, (0, 1))
    for i in range(0, 60, 3):
        (src / "a" / f"{i:03d}.png").unlink()
    _shapes(src / "b", 15, 7)
    clean = tmp / "k-clean.catalog"
    lf.index(MODEL, src, clean, workers=0, progress=False, features=["none"])
    want = _codes(clean)

    def trial(n: int, env=None, kill_after: float | None = None) -> None:
        cat = tmp / f"k-{n}.catalog"
        shutil.copytree(base, cat)
        args = ["index", MODEL, src, "--catalog", cat, "--workers", "0"]
        if kill_after is None:
            _cli(*args, env=env)
        else:
            p = subprocess.Popen([sys.executable, "-m", "latentfolio.cli", *map(str, args)],
                                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(kill_after)
            p.send_signal(signal.SIGKILL)
            p.wait()
        seen = _codes(cat)
        c["cases"] += 1
        if seen is not None and not all(code in (want.get(p), before.get(p)) for p, code in seen.items()):
            c["wrong"] += 1
            return
        r = _cli("index", MODEL, src, "--catalog", cat, "--workers", "0")
        if r.returncode == 0 and _codes(cat) == want:
            c["intended"] += 1
        else:
            c["wrong"] += 1
    n = 0
    for point in ("chunk-encoded", "compact-written", "compact-committed"):
        trial(n, env={"LATENTFOLIO_KILL_AT": point})
        n += 1
    rnd = random.Random(0)
    for _ in range(random_kills):  # the CLI starts in 3-5 s here; the run takes a few more
        trial(n, kill_after=rnd.uniform(2.0, 8.0))
        n += 1
    # a tidy-up killed between a link and its unlink, then undone; and an organize copy, then redone
    cat = tmp / "k-dup.catalog"
    dup = tmp / "k-dup"
    _shapes(dup, 8, 3)
    shutil.copy(dup / "001.png", dup / "copy.png")
    lf.index(MODEL, dup, cat, workers=0, progress=False, features=["none"])
    tree = _tree(dup)
    r = _cli("duplicates", cat, "--apply", env={"LATENTFOLIO_KILL_AT": "journal-linked"})
    journals = sorted((cat / "journals").glob("*.json"))
    u = _cli("undo", journals[-1]) if journals else None
    c["cases"] += 1
    c["intended"] += int(r.returncode == 137 and u is not None and u.returncode == 0 and _tree(dup) == tree)
    out, ref = tmp / "k-org", tmp / "k-org-clean"
    r = _cli("cluster", cat, "--k", "2", "--organize", out, "--mode", "copy", env={"LATENTFOLIO_KILL_AT": "organize-copy"})
    r2 = _cli("cluster", cat, "--k", "2", "--organize", out, "--mode", "copy", "--force")
    _cli("cluster", cat, "--k", "2", "--organize", ref, "--mode", "copy")
    c["cases"] += 1
    c["intended"] += int(r.returncode == 137 and r2.returncode == 0 and _tree(out) == _tree(ref))
    return c


def two_writers(tmp: Path, trials: int = 3) -> dict:
    c = _count()
    src, _, want = _indexed(tmp, "w", 250, (4, 5))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for t in range(trials):
        cat = tmp / f"w-{t}.catalog"
        cmd = [sys.executable, "-m", "latentfolio.cli", "index", str(MODEL), str(src), "--catalog", str(cat),
               "--workers", "0"]
        ps = []
        for _ in range(2):
            ps.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5 * t)  # together, and staggered
        codes = [p.wait(timeout=600) for p in ps]
        c["cases"] += 1
        ok = codes == [0, 0] and _codes(cat) == want
        c["intended" if ok else "wrong"] += 1
    return c


# --- hostile journals, manifests and catalog files ---------------------------------------------------
def hostile_files(tmp: Path) -> dict:
    import latentfolio as lf
    from latentfolio.errors import LatentfolioError
    from latentfolio.gallery import actions
    from latentfolio.gallery.state import Gallery

    c = _count()
    src, victim, cat = tmp / "h-art", tmp / "h-victim", tmp / "h.catalog"
    _shapes(src / "a", 10, 6)
    lf.index(MODEL, src, cat, workers=0, progress=False, features=["none"])
    victim.mkdir()
    (victim / "secret.txt").write_text("private")
    (victim / "_duplicates").mkdir()
    (victim / "_duplicates" / "kept.txt").write_text("also private")
    os.symlink(victim, src / "a" / "door")
    (cat / "journals").mkdir()
    moves = {
        "anywhere": [[str(tmp / "elsewhere" / "stolen.txt"), str(victim / "secret.txt")]],
        "outside, aside": [[str(victim / "kept.txt"), str(victim / "_duplicates" / "kept.txt")]],
        "dot-dot": [[str(src / "a" / ".." / ".." / "h-victim" / "kept.txt"),
                     str(src / "a" / ".." / ".." / "h-victim" / "_duplicates" / "kept.txt")]],
        "through a link": [[str(src / "a" / "door" / "kept.txt"), str(src / "a" / "door" / "_duplicates" / "kept.txt")]],
        "NUL": [["/x\u0000", "/x/_duplicates/y"]],
        "relative": [["a.png", "_duplicates/a.png"]],
    }
    before = _tree(victim)
    g = Gallery(cat)

    def both_ways(cli_args: tuple, gallery_call) -> None:
        """The same crafted file through the CLI and the gallery: each must refuse it, and leave
        the victim folder as it was."""
        for how in ("cli", "gallery"):
            c["cases"] += 1
            if how == "cli":
                refused = _cli(*cli_args).returncode == 2
            else:
                try:
                    gallery_call()
                    refused = False
                except LatentfolioError:
                    refused = True
            changed = _tree(victim) != before
            c["outside"] += int(changed)
            c["intended"] += int(refused and not changed)
    try:
        for n, (name, m) in enumerate(moves.items()):
            j = cat / "journals" / f"duplicates-2026010{n}-000000.json"
            j.write_text(json.dumps({"format_version": 2, "mode": "move", "state": "applied", "moves": m}))
            both_ways(("undo", j), lambda: actions.undo(g, j.name))
            j.unlink()
        out = tmp / "h-org"
        lf.cluster(cat, out, k=2)
        manifest = json.loads((out / ".latentfolio-organize.json").read_text())
        os.symlink(victim, out / "sub")
        for name, extra in {"a path through a link": ["sub", "sub/secret.txt"], "dot-dot": ["../h-victim/secret.txt"],
                            "absolute": [str(victim / "secret.txt")]}.items():
            (out / ".latentfolio-organize.json").write_text(json.dumps({**manifest, "files": manifest["files"] + extra}))
            both_ways(("cluster", cat, "--k", "2", "--organize", out, "--force"),
                      lambda: actions.write_folders(g, str(out), force=True))
        # a thumbnail replaced by a link out, and a row pointing at a file outside
        g.thumbs.get(g.cat, g.row(1))
        t = g.thumbs.path(1)
        t.unlink()
        os.symlink(victim / "secret.txt", t)
        c["cases"] += 1
        data = g.thumbs.get(g.cat, g.row(1))
        c["outside"] += int(data is not None and b"private" in data)
        c["intended"] += int(data is None)
    finally:
        g.close()
    return c


# --- the server ---------------------------------------------------------------------------------------
def _request(url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if isinstance(body, (dict, list, str, int, type(None))) and body is not None else body
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (TimeoutError, socket.timeout):
        return "hang"
    except urllib.error.URLError as e:
        return "hang" if isinstance(e.reason, (TimeoutError, socket.timeout)) else "refused"


def server(tmp: Path, fuzz: int = 300) -> dict:
    import re

    import latentfolio as lf
    from latentfolio.gallery.server import serve

    c = _count()
    src, cat = tmp / "s-art", tmp / "s.catalog"
    _shapes(src / "a", 30, 8, 32)
    lf.index(MODEL, src, cat, workers=0, progress=False, features=["none"])
    stop, ready = threading.Event(), []
    th = threading.Thread(target=serve, args=(cat,), kwargs={"port": 0, "ready": ready.append, "stop": stop}, daemon=True)
    th.start()
    while not ready:
        time.sleep(0.05)
    url = ready[0]
    token = re.search(r'name="lf-token" content="([^"]+)"', urllib.request.urlopen(url).read().decode())[1]
    auth = {"X-Token": token}

    def tally(status) -> None:
        c["cases"] += 1
        if status == "hang":
            c["hangs"] += 1
        elif status == "refused" or (isinstance(status, int) and status >= 500):
            c["server_errors"] += 1  # a 5xx, or no answer at all
        else:
            c["intended"] += 1
    rnd = random.Random(2)
    values = [None, 5, -1, 1.5, True, "", "x\u0000y", "a" * 5000, "../../etc/passwd", [], [None], ["abc"], [1, 2],
              {}, {"0": "x"}, {"x": 1}, [[1]], "/tmp/\u0000", 10**30]
    routes = {"api/undo": ["journal"], "api/export-folder": ["ids", "out"], "api/export": ["ids", "format"],
              "api/create": ["ids"], "api/duplicates/plan": ["plan", "groups", "keepers"],
              "api/duplicates/apply": ["plan", "groups", "keepers", "mode"], "api/clusters/write": ["out", "mode", "force"],
              "api/clusters/rename": ["cluster", "name"], "api/clusters/compute": ["k"], "api/search-path": ["path", "k"]}
    for _ in range(fuzz):
        route = rnd.choice(list(routes))
        body = {f: rnd.choice(values) for f in routes[route] if rnd.random() < 0.9}
        tally(_request(url + route, body, auth))
    for raw in (b"not json", b"[1,2]", b"{" * 10000, b"\xff\xfe"):
        tally(_request(url + "api/undo", raw, auth))
    for q in ("api/info/99999999", "api/thumb/-1", "api/outliers?top=abc", "api/duplicates?threshold=nan",
              "api/info/1?k=100000", "api/made/x/..%2f..%2fcatalog.sqlite"):
        tally(_request(url + q))
    port = int(url.rsplit(":", 1)[1].strip("/"))
    held = []
    for _ in range(300):  # slow clients holding half a request head
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        held.append(s)
    tally(_request(url + "api/summary", timeout=60))
    for s in held:
        s.close()
    # requests while index runs in another process, adding and removing files
    stop_hammer = threading.Event()

    def hammer():
        n = 0
        while not stop_hammer.is_set():
            n += 1
            for route in ("api/summary", "api/points", f"api/info/{1 + n % 40}", "api/outliers?top=5",
                          f"api/thumb/{1 + n % 40}", "api/clusters"):
                tally(_request(url + route))
    hs = [threading.Thread(target=hammer) for _ in range(3)]
    for h in hs:
        h.start()
    for r in range(3):
        _shapes(src / f"new{r}", 20, 20 + r, 32)
        for p in sorted((src / "a").glob("*.png"))[:4]:
            p.unlink()
        _cli("index", MODEL, src, "--catalog", cat, "--workers", "0")
    stop_hammer.set()
    for h in hs:
        h.join()
    stop.set()
    th.join(30)
    return c


FAMILIES = {
    "kill -9 in index, a tidy-up and an organize copy (named points and random moments), then rerun or undo":
        kills,
    "two index runs on one catalog, together and staggered": two_writers,
    "crafted journals, organize manifests, a linked thumbnail (CLI and gallery)": hostile_files,
    "the gallery: fuzzed request bodies, 300 held connections, requests during index runs": server,
}


def fault_families(tmp: Path) -> dict:
    rows = {}
    for name, fn in FAMILIES.items():
        t0 = time.perf_counter()
        rows[name] = fn(tmp) | {"seconds": round(time.perf_counter() - t0, 1)}
        print(name, rows[name], file=sys.stderr, flush=True)
    return rows
