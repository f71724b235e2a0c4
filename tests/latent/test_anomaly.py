"""Outlier scores: complexity measured at the file's scale, and the model's terms scored within the
images it trained on and within the rest."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from latentfolio.data.decode import decode_measured
from latentfolio.imaging import complexity
from latentfolio.latent.anomaly import outlier_table, score_table


def _png(a: np.ndarray) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    buf.seek(0)
    return buf


def test_complexity_orders_blank_drawing_photo_noise():
    rng = np.random.default_rng(0)
    blank = np.full((600, 800, 3), 245, np.uint8)
    drawing = blank.copy()
    drawing[100:500:7, :, :] = 20  # lines
    yy, xx = np.mgrid[0:600, 0:800]
    photo = np.clip(np.stack([128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0)] * 3, -1)
                    + rng.normal(0, 12, (600, 800, 3)), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    c = [complexity(a) for a in (blank, drawing, photo, noise)]
    assert c == sorted(c) and c[0] < 0.2 and c[3] > 7.5, c
    # PNG's fixed bytes are not counted: a tiny flat file is as simple as a big one
    assert complexity(np.full((8, 8, 3), 200, np.uint8)) < 0.5 < 7.5 < complexity(noise[:8, :8])


def test_noise_is_measured_at_the_files_scale_not_the_models():
    noise = np.random.default_rng(1).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    px, cx = decode_measured(_png(noise), 16, 3)
    assert px.shape == (16, 16, 3)
    # at the model's size the noise is averaged into a smooth grey; at the file's it is noise
    assert cx > 7.5 and complexity(px) < cx - 1


def test_held_out_images_do_not_fill_the_top():
    rng = np.random.default_rng(0)
    n = 200
    train = np.arange(n) < 150
    mse = np.where(train, 0.001, 0.035) * np.exp(rng.normal(0, 0.2, n))  # the held-out are 35x worse
    mse[7] = 0.02  # a training image the model could not learn: the real outlier
    z = rng.normal(size=(n, 4))
    plain = outlier_table(mse, np.zeros(n))["total"]
    grouped = outlier_table(mse, np.zeros(n), groups=train)["total"]
    assert np.argmax(grouped) == 7
    assert np.argsort(-plain).tolist().index(7) > 10  # scored together, it hides among the held-out
    table = score_table(mse, z, "both", groups=train, complexity=np.full(n, 4.0) + rng.normal(0, .1, n))
    assert table["reason"][int(np.argmax(table["total"]))] == "reconstruction"


def test_complexity_is_judged_against_what_the_model_learned():
    # a one-class test: 100 images of the model's kind (low error, simple) among 900 of others
    # (higher error, more complex). Against the whole list's median, the model's own kind looks
    # atypically simple and tops the list; against what the model trained on, it does not.
    rng = np.random.default_rng(0)
    normal = np.arange(1000) < 100
    mse = np.where(normal, 0.002, 0.02) * np.exp(rng.normal(0, 0.3, 1000))
    cx = np.where(normal, 1.0, 3.0) + rng.normal(0, 0.2, 1000)
    learned = 1.0 + rng.normal(0, 0.2, 500)  # the complexity of the model's training images

    def normals_in_top(**kw):
        total = outlier_table(mse, np.zeros(1000), complexity=cx, **kw)["total"]
        return int(normal[np.argsort(-total)[:100]].sum())
    assert normals_in_top() == 100
    assert normals_in_top(complexity_ref=learned) <= 15  # only those far in their own tails
    # in a catalog: the images the model trained on (here 50 of the normal ones) are the reference
    assert normals_in_top(groups=np.arange(1000) < 50) <= 15
