"""The renderers on their own: figures, curves, HTML pages and the interactive map."""

from __future__ import annotations

import numpy as np
from PIL import Image

from latentfolio.render import html
from latentfolio.render.curves import loss_curve
from latentfolio.render.figures import scatter_png, thumbnail_map
from latentfolio.render.interactive import map_html


def test_scatter_colours_groups_and_greys_unknowns():
    xy = np.random.default_rng(0).normal(size=(60, 2))
    groups = np.repeat([0, 1, -1], 20)
    img = scatter_png(xy, groups, ["$cats$", "dogs"], "a map")
    assert isinstance(img, Image.Image) and img.size[0] > 300
    px = np.asarray(img).reshape(-1, 3)
    assert len(np.unique(px, axis=0)) > 10  # dots in several colours, not a blank canvas


def test_thumbnail_map_places_each_thumbnail():
    xy = np.array([[0.0, 0.0], [1.0, 1.0]])
    thumbs = np.zeros((2, 8, 8, 1), np.uint8)
    img = np.asarray(thumbnail_map(xy, thumbs, canvas=100, thumb=10))
    assert img.shape == (100, 100, 3)
    assert (img[90:100, 0:10] == 0).all() and (img[0:10, 90:100] == 0).all()  # bottom-left, top-right
    assert (img[45:55, 45:55] == 255).all()  # nothing in between


def test_loss_curve_draws_finite_rows():
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": float("nan") if e == 1 else 1.2 / e} for e in (1, 2, 3)]
    assert loss_curve(rows).size == (500, 320)


def test_html_escapes_every_name():
    page = html.page("<b>t</b>", [("s", html.table([{"name": "<img src=x onerror=alert(1)>.png"}]))])
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert page.count("<html") == 1 and "http" not in page.split("<body")[1]  # nothing loads from outside


def test_interactive_map_is_self_contained_and_escapes_paths():
    xy = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    doc = map_html(xy, np.zeros((5, 8, 8, 1), np.uint8), ['<script>alert("x")</script>.png'] * 5,
                   np.array([0, 0, 1, 1, 1]), ["a", "b"], title="t")
    assert "<script>alert(" not in doc
    assert "<script src=" not in doc and len(doc) > 1_000_000  # plotly.js is inlined, not fetched
