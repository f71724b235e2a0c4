"""Data sources on tiny generated data: IDX, CIFAR pickles, and folders of every mode and fault."""

from __future__ import annotations

import io
import pickle
import warnings

import numpy as np
import pytest
from PIL import Image

from latentfolio.data import BadFileWarning, load_data
from latentfolio.data import folder as folder_mod
from latentfolio.data.decode import BadImage, decode_image
from latentfolio.data.named import ensure, verify
from latentfolio.errors import LatentfolioError

from conftest import shapes_image, write_cifar, write_idx


def test_idx_folder_and_official_split(idx_folder):
    ds = load_data(idx_folder)
    assert ds.images.shape == (80, 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.split_sizes()["test"] == 20  # the official test split is kept
    assert ds.split_sizes()["val"] == 6  # 10% of train, seeded
    assert ds.labels is not None and ds.classes[0] == "T-shirt/top"  # folder named fashion-mnist
    again = load_data(idx_folder)
    assert (again.split == ds.split).all()  # deterministic


def test_named_dataset_from_data_root(tmp_path, monkeypatch):
    write_idx(tmp_path / "root" / "mnist")
    monkeypatch.setenv("LATENTFOLIO_DATA", str(tmp_path / "root"))
    with pytest.raises(LatentfolioError, match="checksum mismatch"):
        load_data("mnist")  # generated files are not the published ones: the checksum catches it


def test_offline_error_says_where_to_put_files(tmp_path):
    with pytest.raises(LatentfolioError) as e:
        ensure("fashion-mnist", tmp_path, download=False)
    assert str(tmp_path / "fashion-mnist") in str(e.value)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def test_verify_accepts_right_digest(tmp_path):
    import hashlib

    p = tmp_path / "f"
    p.write_bytes(b"hello")
    verify(p, "md5:" + hashlib.md5(b"hello").hexdigest())
    with pytest.raises(LatentfolioError, match="checksum"):
        verify(p, "sha256:" + "0" * 64)


def test_cifar_batches(cifar_folder):
    for source in (cifar_folder, cifar_folder.parent):  # batches folder, or the folder above it
        ds = load_data(source)
        assert ds.images.shape == (60, 32, 32, 3)
        assert ds.split_sizes()["test"] == 10 and ds.classes[:2] == ["a", "b"]


def test_cifar_refuses_a_pickle_that_runs_code(tmp_path):
    folder = write_cifar(tmp_path / "c", per_batch=2)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(LatentfolioError, match="refusing to load builtins.print"):
        load_data(folder)


def test_digits_needs_no_download():
    ds = load_data("digits")
    assert ds.images.shape[1:] == (8, 8, 1) and len(ds) == 1797
    assert ds.images.max() == 255


def _save_all_modes(root):
    """One file per format and mode the issue lists; returns {name: expected grey value or None}."""
    rng = np.random.default_rng(0)
    rgb = shapes_image(rng, 32, colour=True)
    Image.fromarray(rgb).save(root / "rgb.jpg", quality=95)
    Image.fromarray(rgb).save(root / "rgb.webp")
    Image.fromarray(rgb).save(root / "rgb.bmp")
    Image.fromarray(rgb).save(root / "rgb.tiff")
    Image.fromarray(rgb[:, :, 0]).save(root / "grey.png")
    Image.fromarray(rgb).convert("P").save(root / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "cmyk.jpg")
    # 16-bit grey: value 65535 must come out white, not clipped garbage
    Image.fromarray(np.full((32, 32), 65535, np.uint16)).save(root / "grey16.png")
    # fully transparent RGBA: composited on white
    Image.fromarray(np.zeros((32, 32, 4), np.uint8), "RGBA").save(root / "clear.png")
    # GIF: first frame black, second white
    frames = [Image.new("L", (32, 32), 0), Image.new("L", (32, 32), 255)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    # EXIF orientation 6 (rotate 90° CW): a 40x20 image stored sideways
    side = np.zeros((20, 40), np.uint8)
    side[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(side).save(root / "rotated.jpg", exif=exif, quality=100)


def test_folder_every_mode_loads(tmp_path):
    root = tmp_path / "modes"
    root.mkdir()
    _save_all_modes(root)
    ds = load_data(root, image_size=16, channels=3)
    names = [p.split("/")[-1] for p in ds.paths]
    assert len(names) == 11 and not ds.skipped and ds.labels is None
    px = dict(zip(names, ds.images))
    assert px["grey16.png"].min() == 255  # 16-bit scaled down, not clipped
    assert px["clear.png"].min() == 255  # alpha composited on white paper
    assert px["anim.gif"].max() == 0  # first frame
    # EXIF rotate-90: the white left half becomes the top half
    rot = decode_image(str(root / "rotated.jpg"), 20, 1, "squash")
    assert rot[:5].mean() > 200 and rot[-5:].mean() < 50


def test_channels_detected_and_forced(tmp_path, shapes_folder):
    assert load_data(shapes_folder, image_size=16).channels == 1  # every file is grey
    assert load_data(shapes_folder, image_size=16, channels=3).channels == 3
    root = tmp_path / "mixed"
    root.mkdir()
    Image.new("L", (8, 8)).save(root / "g.png")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "c.png")
    assert load_data(root, image_size=8).channels == 3


def test_labels_from_first_level_subfolders(shapes_folder):
    ds = load_data(shapes_folder, image_size=16)
    assert ds.classes == ["a", "b"] and sorted(set(ds.labels.tolist())) == [0, 1]
    assert sum(ds.split_sizes().values()) == 60


@pytest.mark.parametrize("fit", ["squash", "crop", "pad"])
def test_fit_policies(tmp_path, fit):
    wide = np.zeros((10, 40), np.uint8)
    wide[:, 15:25] = 255  # a white bar in the centre of a wide black image
    p = tmp_path / "wide.png"
    Image.fromarray(wide).save(p)
    a = decode_image(str(p), 20, 1, fit)[:, :, 0]
    assert a.shape == (20, 20)
    if fit == "crop":
        assert a[:, 8:12].mean() > 200 and a.mean() > 100  # the centre fills the crop
    if fit == "pad":
        assert a[:3].max() == 0  # padded with the (black) border colour, not white
    if fit == "squash":
        assert a.mean() < 100  # the bar is a quarter of the width


def test_folder_default_size_is_64_or_the_images_own_when_smaller(tmp_path, shapes_folder):
    from latentfolio.data.folder import default_size

    assert load_data(shapes_folder).image_size == 24  # 24 px files are not blown up to 64
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        Image.new("L", (200, 150)).save(big / f"{i}.png")
    (big / "broken.png").write_bytes(b"not an image")  # unreadable files do not vote
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadFileWarning)
        assert load_data(big).image_size == 64
    assert default_size([28, 28, 300]) == 28  # the median, not the largest
    assert default_size([4]) == 8 and default_size([]) == 64


def test_bad_files_are_skipped_and_named(tmp_path, shapes_folder):
    root = shapes_folder
    (root / "a" / "notes.png").write_text("not an image")
    (root / "a" / "SOURCE.md").write_text("# where these come from")  # documents: passed over, not bad
    (root / "SHA256SUMS").write_text("0" * 64 + "  a/000.png\n")
    (root / "b" / "000.png.xmp").write_text("<x:xmpmeta/>")
    good = (root / "a" / "000.png").read_bytes()
    (root / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "a" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)
    (root / "b" / "empty.png").write_bytes(b"")
    Image.new("1", (23000, 23000)).save(root / "b" / "bomb.png")  # 529M px > the 512M px limit
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = load_data(root, image_size=16)
    msgs = [str(x.message) for x in w if issubclass(x.category, BadFileWarning)]
    assert len(ds) == 60 and len(ds.skipped) == 5 and len(msgs) == 5
    reasons = {p.split("/")[-1]: r for p, r in ds.skipped}
    assert "not an image" in reasons["notes.png"]
    assert "truncated" in reasons["truncated.png"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert any("bomb.png" in m for m in msgs)


def test_an_empty_file_read_into_memory_is_named_as_empty():
    # index hashes each file's bytes, then decodes them from memory: same reasons as from a path
    with pytest.raises(BadImage, match=r"^empty file \(0 bytes\)$"):
        decode_image(io.BytesIO(b""), 16, 1)
    with pytest.raises(BadImage, match="not an image"):
        decode_image(io.BytesIO(b"hello"), 16, 1)


def test_a_decompression_bomb_is_one_short_line(monkeypatch, tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("L", (30, 30)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow itself refuses over 2x this
    with pytest.raises(BadImage, match=r"^decompression bomb: 900 pixels is over the 100 pixel limit$"):
        decode_image(str(p), 16, 1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # over the limit, under 2x: our own check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(BadImage, match=r"^decompression bomb: 30x30 pixels is over the 600 pixel limit$"):
            decode_image(str(p), 16, 1)


def test_empty_and_all_bad_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LatentfolioError, match="folder has no files"):
        load_data(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"nope")
    with pytest.raises(LatentfolioError, match="no readable images"):
        load_data(bad)
    with pytest.raises(LatentfolioError, match="no such folder"):
        load_data(tmp_path / "missing")


def test_decode_once_cache(shapes_folder, monkeypatch):
    first = load_data(shapes_folder, image_size=16)
    assert isinstance(first.images, np.memmap)  # memory-mapped from the cache

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder_mod, "decode_image", boom)
    second = load_data(shapes_folder, image_size=16)
    assert np.array_equal(np.asarray(first.images), np.asarray(second.images))
    # a changed file changes the key: that one folder is decoded again
    (shapes_folder / "a" / "new.png").write_bytes((shapes_folder / "a" / "000.png").read_bytes())
    with pytest.raises(AssertionError, match="decoded again"):
        load_data(shapes_folder, image_size=16)


def test_detected_size_and_channels_are_cached(shapes_folder, monkeypatch):
    calls = []
    real = folder_mod.header
    monkeypatch.setattr(folder_mod, "header", lambda p: calls.append(p) or real(p))
    first = load_data(shapes_folder)
    assert len(calls) == 60  # every file's header read once, to pick the size and channels
    calls.clear()
    second = load_data(shapes_folder)  # unchanged folder: neither headers nor pixels are read
    assert calls == [] and (second.image_size, second.channels) == (first.image_size, first.channels)
    Image.new("RGB", (24, 24), (200, 10, 10)).save(shapes_folder / "a" / "colour.png")
    assert load_data(shapes_folder).channels == 3 and len(calls) == 61  # a changed folder: read again


def test_bad_options_are_clear(shapes_folder):
    with pytest.raises(LatentfolioError, match="fit="):
        load_data(shapes_folder, fit="stretch")
    with pytest.raises(LatentfolioError, match="channels="):
        load_data(shapes_folder, channels=2)


def test_decode_image_raises_badimage(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(BadImage):
        decode_image(str(p), 8, 1)
