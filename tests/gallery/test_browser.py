"""The gallery in a real browser: Playwright driving Debian's Chromium (browser builds cannot be
downloaded here; `.ci/run` installs the `chromium` package, so these run in CI). Set
LATENTFOLIO_SCREENSHOTS=docs/images to refresh the screenshots of docs/gallery.md."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from served import HOSTILE_FILE, UNREADABLE, built, request, serving, token_of  # noqa: F401 (built: a fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("LATENTFOLIO_REQUIRE_BROWSER") == "1"  # set by .ci/run: CI never skips these
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no chromium (apt-get install -y chromium)")
# As root and on a closed network: no sandbox, no background requests; WebGL in software.
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
WIDTHS = (1440, 800)  # a laptop, and half a screen
VIEWS = {"map": "body[data-map-points='34']", "files": "#file-grid .tile", "image/1": "#neighbours .tile",
         "search": "#drop", "duplicates": ".group", "clusters": ".cluster", "outliers": "#outliers .tile",
         "create": "#make", "unreadable": "#unreadable-files tr"}


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    assert CHROMIUM, "the browser tests need chromium (.ci/run installs Debian's package)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser, url, width=1280, height=820):
    pg = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))  # an alert() ran
    pg.goto(url)
    return pg, problems


@pytest.fixture
def page(browser, built):
    with serving(built[2]) as url:
        pg, problems = _page(browser, url)
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


@pytest.mark.parametrize("width", WIDTHS)
def test_every_view_fits_the_window_at_1440_and_800_px(browser, built, width, tmp_path):
    with serving(built[2]) as url:
        pg, problems = _page(browser, url, width, 860)
        for view, ready in VIEWS.items():
            _open(pg, url, view)
            pg.wait_for_selector(ready, state="attached", timeout=30000)
            pg.wait_for_timeout(250)
            wide = pg.evaluate("() => document.documentElement.scrollWidth")
            header = pg.evaluate("() => document.querySelector('header').getBoundingClientRect().height")
            assert wide <= width, (view, wide)  # nothing runs off the right edge
            assert header < 60, (view, header)  # one line: the header never wraps
            nav = pg.evaluate("() => { const n = document.querySelector('header nav'); return n.scrollWidth - n.clientWidth; }")
            assert nav <= 0, (view, nav)  # and no view's name is cut off
            _shot(pg, f"gallery_{view.split('/')[0]}_{width}.png", tmp_path)
        pg.close()
    assert not problems, problems


def test_click_from_an_image_to_its_neighbours(page):
    pg, url, _ = page
    _open(pg, url, "image/1")
    first = pg.locator("#neighbours .tile").first
    name, nid = first.locator(".name").inner_text(), first.get_attribute("data-id")
    first.click()
    pg.wait_for_selector(f".image-page[data-id='{nid}']", timeout=30000)
    assert pg.locator("#image-name").inner_text() == name
    assert pg.locator("#about-model").get_attribute("open") is None  # the model's scores are folded away
    pg.click("#about-model summary")
    assert "dB PSNR" in pg.locator("#about-model").inner_text()
    assert "dimensions" in pg.locator(".facts-panel").inner_text()


def test_the_twelve_nearest_share_one_row_and_a_long_path_wraps(page):
    pg, url, _ = page
    pg.set_viewport_size({"width": 1440, "height": 860})
    _open(pg, url, "image/1")
    tops = pg.eval_on_selector_all("#neighbours .tile", "ts => ts.map(t => Math.round(t.getBoundingClientRect().top))")
    assert len(tops) == 12 and len(set(tops)) == 1, tops
    pg.evaluate("() => { document.getElementById('image-name').textContent = 'x'.repeat(400);"
                " document.querySelector('.facts-panel td:last-child').textContent = '/a'.repeat(300); }")
    assert pg.evaluate("() => document.documentElement.scrollWidth") <= 1440


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


def _near_threshold(url) -> float:
    """A threshold at which the test collection has a near group (its shapes are all different)."""
    t = request(url + "api/duplicates")[1]["threshold"]
    for _ in range(40):
        t *= 1.3
        if request(url + f"api/duplicates?threshold={t}")[1]["tiers"]["near"]:
            return t
    raise AssertionError("no near group at any threshold")


def test_a_near_group_is_unticked_and_apply_leaves_it_alone(page, built, tmp_path):
    pg, url, _ = page
    art = built[1]
    before = _files(art)
    _open(pg, url, "duplicates")
    pg.click(".advanced summary")
    pg.fill("#threshold", str(_near_threshold(url)))
    pg.click("#find")
    pg.wait_for_selector(".group[data-tier='near']")
    near = pg.locator(".group[data-tier='near']").first
    assert not near.locator("input.include").is_checked()
    assert near.locator(".badge").inner_text() in ("near · very close", "near · similar", "near · related")
    near_files = set(near.locator(".tile").evaluate_all("ts => ts.map(t => t.title)"))
    near.locator("button.compare").click()  # the two side by side, at full size
    pg.wait_for_selector("#compare figure img")
    assert pg.locator("#compare figure").count() >= 2
    _shot(pg, "gallery_compare_1440.png", tmp_path)
    pg.keyboard.press("Escape")
    assert pg.locator("#compare").count() == 0
    pg.click("#dry-run")
    pg.wait_for_selector("#plan-moves div")
    planned = pg.locator("#plan-moves div").all_inner_texts()
    assert not any(line.split("  →  ")[0] in near_files for line in planned)
    pg.click("#apply")
    pg.wait_for_selector("#applied")
    assert all(os.path.exists(f) for f in near_files)  # every image of the near group is where it was
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
    assert HOSTILE_FILE in pg.locator(".facts-panel").inner_text()
    assert pg.locator("script:not([src])").count() == 0


def test_files_by_folder_and_size_with_a_viewer_on_the_arrow_keys(page, built, tmp_path):
    pg, url, _ = page
    pg.set_viewport_size({"width": 1440, "height": 860})
    _open(pg, url, "files")
    pg.wait_for_selector("#file-grid .tile")
    assert pg.locator("#file-grid .tile").count() == 34
    pg.locator(".tree a[data-folder='a']").click()
    pg.wait_for_function("() => document.getElementById('files-count').textContent.startsWith('18 images in a')")
    pg.select_option("#sort", "size")
    pg.wait_for_function("() => document.getElementById('sort').value === 'size' && document.querySelectorAll('#file-grid .tile').length === 18")
    names = pg.locator("#file-grid .tile .name").all_inner_texts()
    sizes = [(built[1] / "a" / n).stat().st_size for n in names]
    assert sizes == sorted(sizes)
    pg.locator("#file-grid .tile").nth(0).click()
    pg.wait_for_selector("#viewer:not([hidden]) .facts-panel")
    _shot(pg, "gallery_viewer_1440.png", tmp_path)
    first = pg.get_attribute("#viewer", "data-id")
    pg.keyboard.press("ArrowRight")
    pg.wait_for_function(f"() => document.getElementById('viewer').dataset.id !== '{first}'")
    assert pg.get_attribute("#viewer", "data-id") == pg.locator("#file-grid .tile").nth(1).get_attribute("data-id")
    pg.wait_for_function(f"() => document.querySelector('#viewer .vname').textContent === {json.dumps(names[1])}")
    pg.keyboard.press("ArrowLeft")
    pg.wait_for_function(f"() => document.getElementById('viewer').dataset.id === '{first}'")
    panel = pg.locator("#viewer .facts-panel").inner_text()
    assert "48 × 48 px" in panel and "PNG" in panel
    assert pg.locator("#viewer input.location").input_value() == str(built[1] / "a")  # "show in folder"
    pg.keyboard.press("Escape")
    assert pg.locator("#viewer").is_hidden()


def test_open_the_original_gives_the_files_own_bytes(page, built):
    pg, url, _ = page
    _open(pg, url, "files")
    tile = pg.locator("#file-grid .tile", has_text="005.jpg").first
    tile.click()
    pg.wait_for_selector("#viewer a.open-original")
    href = pg.get_attribute("#viewer a.open-original", "href")
    got = pg.evaluate("async h => Array.from(new Uint8Array(await (await fetch(h)).arrayBuffer()))", href)
    assert bytes(got) == (built[1] / "a" / "005.jpg").read_bytes()


def test_a_path_outside_the_catalog_is_refused(page, built):
    pg, url, _ = page
    _open(pg, url, "files")
    for route in ("/api/browse?folder=../..", "/api/browse?folder=/etc", "/api/original/999999",
                  "/api/original/..%2f..%2fetc%2fpasswd", "/static/..%2f..%2fcatalog.sqlite"):
        status = pg.evaluate("async r => (await fetch(r)).status", route)
        assert status in (400, 404), route


def test_ctrl_and_shift_click_select_in_a_grid(page):
    pg, url, _ = page
    _open(pg, url, "files")
    tiles = pg.locator("#file-grid .tile")
    tiles.nth(1).click(modifiers=["Control"])
    tiles.nth(3).click(modifiers=["Control"])
    assert pg.locator("#selection-count").inner_text() == "2 selected"
    tiles.nth(6).click(modifiers=["Shift"])  # 3 to 6
    assert pg.locator("#selection-count").inner_text() == "5 selected"
    assert pg.locator("#file-grid .tile.selected").count() == 5
    assert pg.locator("#viewer").is_hidden()  # selecting opens nothing
    pg.click("#clear-selection")
    assert pg.locator("#selection-bar").is_hidden()


def test_the_thumbnail_slider_sizes_the_tiles(page):
    pg, url, _ = page
    _open(pg, url, "files")
    img = pg.locator("#file-grid .tile img").first
    pg.fill("#tile-size", "200")
    pg.dispatch_event("#tile-size", "input")
    assert round(img.bounding_box()["width"]) == 200
    pg.fill("#tile-size", "80")
    pg.dispatch_event("#tile-size", "input")
    assert round(img.bounding_box()["width"]) == 80


def test_the_map_zooms_on_the_wheel_names_files_and_keeps_the_legend_clear(page, built, tmp_path):
    pg, url, _ = page
    token = token_of(url)
    request(url + "api/clusters/rename", {"cluster": 0, "name": "blue shapes"}, {"X-Token": token})
    pg.set_viewport_size({"width": 1440, "height": 860})
    _open(pg, url, "map")
    pg.wait_for_selector("body[data-map-points='34']", state="attached", timeout=30000)
    pg.select_option("#color", "cluster")
    pg.wait_for_selector(".legend .traces")
    legend = pg.locator(".legend .traces .legendtext").all_text_contents()
    assert "blue shapes" in legend and "cluster 0" not in legend  # the renamed cluster, by its name
    bar = pg.locator(".modebar").bounding_box()
    first = pg.locator(".legend .traces").first.bounding_box()
    assert bar["y"] + bar["height"] <= first["y"] or bar["x"] + bar["width"] <= first["x"]  # the toolbar covers no entry
    before = pg.evaluate("() => document.getElementById('map')._fullLayout.xaxis.range.slice()")
    box = pg.locator("#map .nsewdrag").first.bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.mouse.wheel(0, -400)
    pg.wait_for_timeout(600)
    after = pg.evaluate("() => document.getElementById('map')._fullLayout.xaxis.range.slice()")
    assert after[1] - after[0] < before[1] - before[0]  # zoomed in
    names = set(request(url + "api/points")[1]["names"])
    hovered = _hover_a_point(pg)
    assert hovered in names and "." in hovered  # a file's name, not its folder's
    pg.wait_for_function("() => +document.body.dataset.mapThumbs > 0")
    _shot(pg, "gallery_map_thumbnails_1440.png", tmp_path)
    boxes = pg.evaluate("() => document.getElementById('map').layout.images.map(i => [i.x, i.y, i.sizex])")
    for i, (x, y, s) in enumerate(boxes):  # the thumbnails lie side by side, never on one another
        for x2, y2, _ in boxes[i + 1:]:
            assert abs(x - x2) >= s or abs(y - y2) >= s


def _hover_a_point(pg) -> str:
    """Move the mouse onto one of the map's points -> the name the hover box shows."""
    xy = pg.evaluate("""() => { const d = document.getElementById('map'), L = d._fullLayout, t = d._fullData[0];
        return [L.xaxis.l2p(t.x[0]) + L.margin.l + d.getBoundingClientRect().left,
                L.yaxis.l2p(t.y[0]) + L.margin.t + d.getBoundingClientRect().top]; }""")
    pg.mouse.move(xy[0] + 1, xy[1] + 1)
    pg.mouse.move(xy[0], xy[1])
    pg.wait_for_selector("#hover:not([hidden]) .hname", timeout=10000)
    return pg.locator("#hover .hname").inner_text()


def test_unreadable_files_are_named_and_create_names_its_picks(page, built):
    pg, url, _ = page
    _open(pg, url, "map")
    link = pg.locator("#unreadable-link")
    assert link.inner_text() == "1 unreadable"
    link.click()
    pg.wait_for_selector("#unreadable-files tr")
    assert UNREADABLE in pg.locator("#unreadable-files").inner_text()
    _open(pg, url, "image/2")
    name = pg.locator("#image-name").inner_text()
    pg.click("#pick")
    _open(pg, url, "create")
    assert pg.locator("#picks .tile .name").all_inner_texts() == [name]  # by file name, not by number
    assert pg.locator("#rescan").is_visible()  # a folder's catalog can be rescanned


def test_writing_cluster_folders_says_it_is_working_then_what_it_wrote(page, tmp_path):
    pg, url, _ = page
    _open(pg, url, "clusters")
    pg.fill("#folders-out", str(tmp_path / "sorted"))
    pg.click("#write-folders")
    pg.wait_for_function("() => document.getElementById('folders-done').textContent.startsWith('wrote')")
    assert (tmp_path / "sorted").is_dir()
