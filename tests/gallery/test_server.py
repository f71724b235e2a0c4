"""The gallery's HTTP API: its guards (loopback, token, traversal), bad uploads, and every view's
data, against the real server on loopback."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest

from served import HOSTILE_FILE, HOSTILE_FOLDER, UNREADABLE, built, request, serving, token_of  # noqa: F401 (built: a fixture)
from conftest import write_shapes


@pytest.fixture(scope="module")
def site(built):
    with serving(built[2]) as url:
        yield url, token_of(url)


def test_loopback_host_and_token_guards(site):
    url, token = site
    port = urlsplit(url).port
    assert request(url + "api/summary")[0] == 200
    status, body, _ = request(f"http://127.0.0.1:{port}/api/summary", headers={"Host": f"evil.example:{port}"})
    assert status == 421 and "loopback" in body["error"]  # DNS rebinding: another name for this address
    status, body, _ = request(url + "api/clusters/rename", {"cluster": 0, "name": "x"})
    assert status == 403 and "token" in body["error"]  # a write without the page's token
    status, body, h = request(url + "api/clusters/rename", {"cluster": 0, "name": "sketches"}, {"X-Token": token})
    assert status == 200 and body["name"] == "sketches"
    assert "script-src 'self'" in h["content-security-policy"] and h["x-content-type-options"] == "nosniff"


def test_beyond_loopback_every_request_needs_the_token(built):
    with serving(built[2], host="0.0.0.0") as url:
        bare = url.split("?")[0]
        assert "?token=" in url
        status, body, _ = request(bare + "api/summary", headers={"Host": "192.0.2.1"})
        assert status == 403 and "token" in body["error"]
        status, _, h = request(url)
        assert status == 200 and "lf_token=" in h["set-cookie"] and "HttpOnly" in h["set-cookie"]
        cookie = h["set-cookie"].split(";")[0]
        assert request(bare + "api/summary", headers={"Cookie": cookie})[0] == 200


def test_no_path_reaches_outside(site, built):
    url, token = site
    auth = {"X-Token": token}
    for journal in ("../catalog.json", "/etc/passwd", "..", ""):
        status, body, _ = request(url + "api/undo", {"journal": journal}, auth)
        assert status == 400 and "no such journal" in body["error"]
    assert request(url + "api/thumb/999999")[0] == 400
    assert request(url + "static/..%2f..%2fcatalog.sqlite")[0] == 404
    assert request(url + "api/made/..%2f/x.png")[0] in (400, 404)
    status, body, _ = request(url + "api/export-folder", {"ids": [1], "out": str(built[1] / "inside")}, auth)
    assert status == 400 and "overlaps the catalogued folder" in body["error"]
    status, body, _ = request(url + "api/clusters/rename", {"cluster": 1, "name": "../../etc"}, auth)
    assert status == 400 and "no slashes" in body["error"]


def test_bad_uploads_are_a_message_and_the_server_goes_on(site, tmp_path):
    url, token = site
    auth = {"X-Token": token, "X-Filename": "q.png"}
    bomb = tmp_path / "bomb.png"
    from PIL import Image

    Image.new("1", (30000, 30000)).save(bomb)  # 900 MP of nothing, a few kB on disk
    for data, want in ((b"", "empty file"), (b"just text, not a picture", "not an image"),
                       (bomb.read_bytes(), "decompression bomb"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "q.png")):
        status, body, _ = request(url + "api/search", data, auth, "POST")
        assert status == 400 and want in body["error"], body
    assert request(url + "api/summary")[0] == 200


def test_views_answer_with_escapable_text(site, built):
    url, token = site
    s = request(url + "api/summary")[1]
    assert s["images"] == 34 and HOSTILE_FOLDER in s["labels"] and s["clusters"] == 3
    pts = request(url + "api/points")[1]
    assert len(pts["ids"]) == 34 and len(pts["x"]) == 34
    hostile = next(i for i, p in zip(pts["ids"], pts["ids"]) if request(url + f"api/info/{i}")[1]["name"] == HOSTILE_FILE)
    info = request(url + f"api/info/{hostile}")[1]
    assert info["neighbours"][0]["name"] == "003.png" and info["neighbours"][0]["distance"] < 1e-3  # its copy
    assert info["psnr"] > 5 and request(url + f"api/recon/{hostile}")[0] == 200
    assert request(url + f"api/thumb/{hostile}")[2]["content-type"] == "image/webp"
    out = request(url + "api/outliers?top=5")[1]["top"]
    assert len(out) == 5 and {o["reason"] for o in out} <= {"reconstruction", "structure", "density", "complexity"}
    dup = request(url + "api/duplicates")[1]
    assert dup["tiers"]["identical"] == 1 and dup["tiers"]["same"] >= 1
    made = request(url + "api/create", {"ids": pts["ids"][:3]}, {"X-Token": token})[1]
    assert made["files"] == ["blend.png", "strip.png", "strip.gif"]
    assert request(url + f"api/made/{made['key']}/strip.gif")[2]["content-type"] == "image/gif"
    q = (built[1] / "a" / "007.png").read_bytes()
    hits = request(url + "api/search", q, {"X-Token": token, "X-Filename": "007.png"}, "POST")[1]["results"]
    assert hits[0]["name"] == "007.png" and hits[0]["distance"] < 1e-3


def test_the_page_escapes_the_catalog_name(built, tmp_path):
    import shutil

    odd = tmp_path / "<script>alert(1)<script>.catalog"
    shutil.copytree(built[2], odd)
    with serving(odd) as url:
        page = request(url)[1].decode()
    assert "&lt;script&gt;alert(1)&lt;script&gt;.catalog" in page and "<script>alert" not in page


def test_selection_exports_and_cluster_folders(site, tmp_path):
    url, token = site
    auth = {"X-Token": token}
    ids = request(url + "api/points")[1]["ids"][:4]
    status, body, h = request(url + "api/export", {"ids": ids, "format": "csv"}, auth)
    assert status == 200 and body.decode().splitlines()[0] == "id,path,label,cluster,x,y" and len(body.decode().splitlines()) == 5
    r = request(url + "api/export-folder", {"ids": ids, "out": str(tmp_path / "picked")}, auth)[1]
    assert r["images"] == 4 and all(p.is_symlink() for p in (tmp_path / "picked" / "selection").iterdir())
    status, body, _ = request(url + "api/export-folder", {"ids": ids, "out": str(tmp_path / "picked")}, auth)
    assert status == 400 and "already exists" in body["error"]  # never over an earlier output
    request(url + "api/clusters/rename", {"cluster": 2, "name": "studies"}, auth)
    r = request(url + "api/clusters/write", {"out": str(tmp_path / "folders")}, auth)[1]
    assert len(r["folders"]) == 3 and "studies" in r["folders"] and (tmp_path / "folders" / "studies").is_dir() and (tmp_path / "folders" / ".latentfolio-organize.json").exists()


def test_rescan_indexes_new_files_in_the_background(built, tmp_path):
    import shutil

    cat = tmp_path / "copy.catalog"
    shutil.copytree(built[2], cat)
    with serving(cat) as url:
        token = token_of(url)
        write_shapes(built[1] / "new", 2, size=48, colour=True, seed=9)
        try:
            task = request(url + "api/rescan", b"", {"X-Token": token}, "POST")[1]
            assert task["name"] == "rescan"
            deadline = time.time() + 120
            while request(url + "api/tasks")[1]["rescan"]["state"] == "running" and time.time() < deadline:
                time.sleep(0.3)
            done = request(url + "api/tasks")[1]["rescan"]
            assert done["state"] == "done" and "2 added" in done["message"], done
            assert request(url + "api/summary")[1]["images"] == 36
            assert len(request(url + "api/points")[1]["ids"]) == 36  # the new ones placed on the map
        finally:
            shutil.rmtree(built[1] / "new")
    assert os.path.exists(cat / "thumbs")


def test_concurrent_requests_succeed_and_no_rename_is_lost(site, built):
    """Renames of three clusters arrive together with searches and page loads: each is a read,
    change and write of one file, so only one writer at a time keeps every cluster's rename."""
    from concurrent.futures import ThreadPoolExecutor

    url, token = site
    q = (built[1] / "a" / "004.png").read_bytes()

    def one(i):
        if i % 3 == 0:
            return request(url + "api/search", q, {"X-Token": token, "X-Filename": "q.png"}, "POST")[0]
        if i % 3 == 1:
            return request(url + f"api/info/{1 + i % 30}")[0]
        return request(url + "api/clusters/rename", {"cluster": (i // 3) % 3, "name": f"n{i}"},
                       {"X-Token": token})[0]
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(48))) == {200}
    names = request(url + "api/summary")[1]["cluster_names"]
    assert {"0", "1", "2"} <= set(names)  # every cluster renamed kept its name: no lost update
    assert all(v.startswith("n") for k, v in names.items() if k in ("0", "1", "2"))


def test_serve_flags_and_sources_are_one_line_errors(tmp_path, built, capsys, monkeypatch):
    import socket

    from conftest import cli

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    for args, want in (((built[2], "--host", "999.1.1.1"), "cannot listen there"),
                       ((built[2], "--port", str(taken.getsockname()[1])), "Address already in use"),
                       ((built[2], "--model", built[2]), "not a latentfolio model folder"),
                       ((tmp_path / "nothing",), "no such catalog or folder"),
                       ((built[1],), "give --model"),
                       ((built[0],), "is a model folder, not a catalog"),
                       ((built[2], "--port", "70000"), "--port"),
                       ((built[1], "--model", tmp_path), "config.json")):
        code, out, err = cli(capsys, monkeypatch, "serve", *args)
        assert code == 2 and want in err and len(err.strip().splitlines()) == 1, (args, err)
    taken.close()


def test_the_file_browser_lists_folders_sorts_pages_and_names_unreadable_files(site, built):
    url, _ = site
    folders = {f["folder"]: f for f in request(url + "api/folders")[1]["folders"]}
    assert folders[""]["total"] == 34 and folders["a"]["images"] == 18 and folders[HOSTILE_FOLDER]["images"] == 16
    page = request(url + "api/browse?folder=a&sort=size&order=desc&limit=5")[1]
    assert page["total"] == 18 and len(page["images"]) == 5
    sizes = [(built[1] / "a" / im["name"]).stat().st_size for im in page["images"]]
    assert sizes == sorted(sizes, reverse=True) and page["images"][0]["name"] == "005.jpg"
    rest = request(url + "api/browse?folder=a&sort=size&order=desc&offset=5&limit=100")[1]["images"]
    assert len(rest) == 13 and not {im["id"] for im in rest} & {im["id"] for im in page["images"]}
    by_name = [im["name"] for im in request(url + "api/browse?sort=name")[1]["images"]]
    assert by_name == sorted(by_name, key=str.lower)
    for folder in ("../..", "/etc", "a/../..", "nothing"):
        status, body, _ = request(url + f"api/browse?folder={folder}")
        assert status == 400 and "no such folder" in body["error"], folder
    jpg = page["images"][0]["id"]
    facts = request(url + f"api/facts/{jpg}")[1]
    assert (facts["format"], facts["width"], facts["height"]) == ("JPEG", 48, 48)
    assert facts["location"] == str(built[1] / "a") and facts["bytes"] == (built[1] / "a" / "005.jpg").stat().st_size
    status, body, headers = request(url + f"api/original/{jpg}")
    assert status == 200 and body == (built[1] / "a" / "005.jpg").read_bytes()
    assert headers["content-type"] == "image/jpeg" and "sandbox" in headers["content-security-policy"]
    bad = request(url + "api/unreadable")[1]
    assert bad["total"] == 1 and bad["files"][0]["name"] == UNREADABLE and bad["files"][0]["reason"]
    assert request(url + "api/summary")[1]["unreadable"] == 1


def test_a_cluster_shows_more_of_its_images(site):
    url, _ = site
    c = request(url + "api/clusters")[1]["clusters"][0]
    more = request(url + f"api/clusters/images?cluster={c['cluster']}&offset=2&limit=3")[1]
    assert more["size"] == c["size"] and [im["id"] for im in more["images"]] == [im["id"] for im in c["images"][2:5]]
    status, body, _ = request(url + "api/clusters/images?cluster=99")
    assert status == 400 and "no such cluster" in body["error"]


def test_a_dataset_catalog_offers_no_rescan(tmp_path):
    from latentfolio.commands.index import index
    from latentfolio.training.train import train

    train("digits", tmp_path / "m", "conv", latent_dim=4, epochs=1, progress=False)
    index(tmp_path / "m", "digits", tmp_path / "digits.catalog", workers=0, progress=False)
    with serving(tmp_path / "digits.catalog") as url:
        s = request(url + "api/summary")[1]
        assert s["rescan"] is False and s["unreadable"] == 0
        status, body, _ = request(url + "api/rescan", b"", {"X-Token": token_of(url)}, "POST")
        assert status == 400 and "nothing to rescan" in body["error"]
        status, body, _ = request(url + "api/original/1")
        assert status == 400 and "no files of their own" in body["error"]
        assert request(url + "api/facts/1")[1]["width"] == 8


def test_thumbnails_stop_when_the_server_closes(built, tmp_path):
    import shutil
    import threading

    from latentfolio.catalog import Catalog
    from latentfolio.gallery.thumbs import Thumbs

    cat_path = shutil.copytree(built[2], tmp_path / "c.catalog")
    shutil.rmtree(cat_path / "thumbs", ignore_errors=True)
    cat = Catalog(cat_path)
    rows = cat.rows("id, path, row")
    stop = threading.Event()
    stop.set()  # the server closed before the build began: nothing is made, nothing waits
    assert Thumbs(cat_path).build(cat, rows, stop=stop)["made"] == 0
    assert Thumbs(cat_path).build(cat, rows, stop=threading.Event())["made"] == len(rows)
    cat.close()
