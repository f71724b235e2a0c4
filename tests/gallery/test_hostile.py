"""The gallery against a hostile catalog, malformed and held connections, and a catalog that an
index run changes under it: a 400 with one line, never a 500, a hang, or a file from elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from served import built, request, serving, token_of  # noqa: F401 (built: a fixture)
from conftest import write_shapes


@pytest.fixture
def own(built, tmp_path):
    """A copy of the built catalog this test may damage -> (model, collection, catalog)."""
    cat = tmp_path / "own.catalog"
    shutil.copytree(built[2], cat)
    return built[0], built[1], cat


def test_a_symlinked_thumbnail_is_not_served(own, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the secret")
    with serving(own[2]) as url:
        status, body, _ = request(url + "api/thumb/1")
        assert status == 200
        thumb = own[2] / "thumbs" / "00000" / "1.webp"
        thumb.unlink()
        os.symlink(secret, thumb)
        status, body, _ = request(url + "api/thumb/1")
        assert status == 200 and b"the secret" not in body and body[:4] == b"RIFF"  # the placeholder tile
        shutil.rmtree(own[2] / "thumbs" / "00000")
        os.symlink(tmp_path, own[2] / "thumbs" / "00000")  # the folder itself a link out
        (tmp_path / "2.webp").write_bytes(b"RIFF from elsewhere")
        status, body, _ = request(url + "api/thumb/2")
        assert b"from elsewhere" not in body
    assert secret.read_text() == "root:x:0:0:the secret"


def test_a_row_pointing_outside_the_collection_is_not_read(own, tmp_path):
    import sqlite3

    from PIL import Image

    private = tmp_path / "private.png"
    Image.new("RGB", (40, 40), (255, 0, 0)).save(private)
    db = sqlite3.connect(own[2] / "catalog.sqlite")
    with db:
        db.execute("UPDATE images SET path = ? WHERE id = 3", (str(private),))
    db.close()
    with serving(own[2]) as url:
        for route in ("api/image/3", "api/recon/3", "api/original/3"):
            status, body, _ = request(url + route)
            assert status == 400 and "not under the catalogued folder" in body["error"], route
        facts = request(url + "api/facts/3")[1]  # the panel says why, and reads nothing
        assert "not under the catalogued folder" in facts["problem"] and "width" not in facts


BAD_BODIES = [
    ("api/undo", {"journal": "x\x00.json"}),
    ("api/undo", {"journal": "a" * 5000}),
    ("api/undo", {"journal": ["x"]}),
    ("api/export-folder", {"ids": [1], "out": "/tmp/a\x00b"}),
    ("api/export-folder", {"ids": [1], "out": "/" + "a" * 5000}),
    ("api/export-folder", {"ids": 5, "out": "/tmp/x"}),
    ("api/export", {"ids": ["abc"]}),
    ("api/create", {"ids": [None]}),
    ("api/create", {"ids": 5}),
    ("api/duplicates/plan", {"plan": "x", "groups": [None]}),
    ("api/duplicates/plan", {"plan": "x", "groups": "abc"}),
    ("api/duplicates/apply", {"plan": "x", "keepers": ["abc"]}),
    ("api/duplicates/apply", {"plan": "x", "keepers": {"0": "abc"}}),
    ("api/clusters/write", {"out": "/tmp/\x00"}),
    ("api/clusters/rename", {"cluster": 0, "name": "a" * 5000}),
    ("api/clusters/rename", {"cluster": 0, "name": {"x": 1}}),
    ("api/search-path", {"path": "/tmp/\x00x.png"}),
]


@pytest.mark.parametrize("route, body", BAD_BODIES)
def test_malformed_requests_are_a_400_line(own, route, body):
    with serving(own[2]) as url:
        status, answer, _ = request(url + route, body, {"X-Token": token_of(url)})
        assert status == 400 and isinstance(answer["error"], str) and "\n" not in answer["error"], answer


def test_hostile_upload_names_are_a_400_or_a_result(own):
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("RGB", (30, 30), (0, 200, 0)).save(buf, "PNG")
    with serving(own[2]) as url:
        tok = token_of(url)
        for name in (quote("x\x00.png"), quote("a" * 5000 + ".png"), quote("\x1b[31m.png")):
            status, answer, _ = request(url + "api/search", buf.getvalue(), {"X-Token": tok, "X-Filename": name})
            assert status in (200, 400), answer
            assert "\x00" not in json.dumps(answer)


def test_a_host_header_that_only_starts_with_loopback_is_refused(own):
    with serving(own[2]) as url:
        port = urlsplit(url).port
        for host in (f"127.0.0.1:{port}@evil.example", "127.0.0.1.evil.example", "localhost.evil.example:80"):
            status, body, _ = request(f"http://127.0.0.1:{port}/api/summary", headers={"Host": host})
            assert status == 421, host
        assert request(f"http://127.0.0.1:{port}/api/summary", headers={"Host": f"[::1]:{port}"})[0] == 200


def test_held_connections_neither_exhaust_nor_stop_the_server(own, monkeypatch):
    from latentfolio.gallery import protocol

    monkeypatch.setattr(protocol, "HEAD_TIMEOUT", 1.0)
    monkeypatch.setattr(protocol, "max_connections", lambda: 40)
    with serving(own[2]) as url:
        port = urlsplit(url).port
        held = []
        for _ in range(120):  # three times the cap, each sending half a request head and waiting
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)
        time.sleep(1.5)  # past the head timeout: the held ones are closed by the server
        t0 = time.time()
        status, body, _ = request(url + "api/summary")
        assert status == 200 and body["images"] > 0
        closed = 0
        for s in held:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
            s.close()
        assert closed == len(held)  # every held connection was closed by the server
        assert time.time() - t0 < 30


def test_serving_while_index_changes_the_catalog_gives_no_error(own, tmp_path):
    """A real uvicorn server, and real index runs in another process that add, change and remove
    files (so rows are renumbered), while requests keep coming."""
    model, src, _ = own
    art = tmp_path / "art"
    shutil.copytree(src, art)
    cat = tmp_path / "live.catalog"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    index = [sys.executable, "-m", "latentfolio.cli", "index", str(model), str(art), "--catalog", str(cat),
             "--workers", "0"]
    subprocess.run(index, check=True, capture_output=True, env=env, timeout=300)
    errors, statuses = [], []
    with serving(cat) as url:
        stop = threading.Event()

        def hammer():
            n = 0
            while not stop.is_set():
                n += 1
                for route in ("api/summary", "api/points", f"api/info/{1 + n % 30}", "api/outliers?top=5",
                              f"api/thumb/{1 + n % 30}", "api/clusters"):
                    status, body, _ = request(url + route)
                    statuses.append(status)
                    if status >= 500:
                        errors.append((route, body))
        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        for round_ in range(3):
            write_shapes(art / f"new{round_}", 30, size=48, colour=True, seed=10 + round_)
            for p in sorted((art / "a").glob("00*.png"))[:3]:
                p.unlink()
            subprocess.run(index, check=True, capture_output=True, env=env, timeout=300)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]
        assert len(statuses) > 50
        status, body, _ = request(url + "api/summary")
        from latentfolio.catalog import Catalog

        c = Catalog(cat)
        try:
            assert body["images"] == len(c)  # the new generation was picked up
        finally:
            c.close()
