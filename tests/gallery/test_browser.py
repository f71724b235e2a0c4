"""The gallery in a real browser: Playwright driving Debian's Chromium (browser builds cannot be
downloaded here; `.ci/run` installs the `chromium` package, so these run in CI). Set
LATENTFOLIO_SCREENSHOTS=docs/images to refresh the README's screenshots."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from served import HOSTILE_FILE, built, serving  # noqa: F401 (built: a fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("LATENTFOLIO_REQUIRE_BROWSER") == "1"  # set by .ci/run: CI never skips these
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no chromium (apt-get install -y chromium)")
# As root and on a closed network: no sandbox, no background requests; WebGL in software.
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    assert CHROMIUM, "the browser tests need chromium (.ci/run installs Debian's package)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, built):
    with serving(built[2]) as url:
        pg = browser.new_page(viewport={"width": 1280, "height": 820})
        problems = []
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))  # an alert() ran
        pg.goto(url)
        yield pg, url, problems
        pg.close()
    assert not problems, problems


def _open(pg, url, view):
    pg.goto(url + "#/" + view)
    pg.wait_for_selector(f"body[data-ready='{view.split('/')[0]}']", state="attached", timeout=30000)


def _shot(pg, name, tmp_path):
    folder = Path(os.environ.get("LATENTFOLIO_SCREENSHOTS") or tmp_path)
    pg.screenshot(path=str(folder / name))
    assert (folder / name).stat().st_size > 5000


def _files(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_every_view_opens(page, tmp_path):
    pg, url, _ = page
    _open(pg, url, "map")
    pg.wait_for_selector("body[data-map-points='34']", state="attached", timeout=30000)
    assert pg.locator("#map canvas").count() >= 1  # drawn with WebGL
    pg.mouse.move(640, 420)
    pg.wait_for_timeout(300)
    _shot(pg, "gallery_map.png", tmp_path)
    for view, sel in (("search", "#drop"), ("clusters", ".cluster"), ("outliers", "#outliers .tile"),
                      ("create", "#make"), ("duplicates", ".group")):
        _open(pg, url, view)
        assert pg.locator(sel).count() >= 1, view


def test_click_from_an_image_to_its_neighbours(page):
    pg, url, _ = page
    _open(pg, url, "image/1")
    first = pg.locator("#neighbours .tile").first
    name, nid = first.locator(".name").inner_text(), first.get_attribute("data-id")
    first.click()
    pg.wait_for_selector(f".image-page[data-id='{nid}']", timeout=30000)
    assert pg.locator("#image-name").inner_text() == name
    assert "dB PSNR" in pg.locator("table.info").inner_text()


def test_upload_a_query_and_a_bad_file(page, built, tmp_path):
    pg, url, _ = page
    _open(pg, url, "search")
    pg.set_input_files("#upload", str(built[1] / "a" / "009.png"))
    pg.wait_for_selector("#results .tile", timeout=30000)
    assert pg.locator("#results .tile .name").first.inner_text() == "009.png"
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    pg.set_input_files("#upload", str(bad))
    pg.wait_for_selector("#error:not([hidden])", timeout=30000)
    assert "not an image" in pg.locator("#error").inner_text()


def test_apply_a_duplicates_plan_and_undo_it(page, built, tmp_path):
    pg, url, _ = page
    art = built[1]
    before = _files(art)
    _open(pg, url, "duplicates")
    assert "1 identical" in pg.locator("#dup-summary").inner_text()
    _shot(pg, "gallery_duplicates.png", tmp_path)
    pg.click("#dry-run")
    pg.wait_for_selector("#plan-moves div")
    assert _files(art) == before  # the dry run touched nothing
    n = pg.locator("#plan-moves div").count()
    pg.click("#apply")
    pg.wait_for_selector("#applied")
    after = _files(art)
    aside = [k for k in after if "/_duplicates/" in k]
    assert len(aside) == n >= 2 and sorted(after.values()) == sorted(before.values())
    pg.locator(".journal button.undo").first.click()
    pg.wait_for_selector("#undone")
    assert _files(art) == before


def test_a_hostile_file_name_shows_as_text(page, built):
    pg, url, _ = page
    _open(pg, url, "duplicates")
    names = pg.locator(".group .tile .name").all_inner_texts()
    assert HOSTILE_FILE in names  # its text, exactly; an <img> it made would have fired alert()
    assert pg.locator("img[src='x']").count() == 0
    tile = pg.locator(".group .tile", has_text=HOSTILE_FILE).first
    hostile_id = tile.get_attribute("data-id")
    _open(pg, url, f"image/{hostile_id}")
    assert pg.locator("#image-name").inner_text() == HOSTILE_FILE
    assert HOSTILE_FILE in pg.locator("table.info").inner_text()  # its path, shown as text
    assert pg.locator("script:not([src])").count() == 0
