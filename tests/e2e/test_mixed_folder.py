"""The reference user's folder: files from real applications in every format, plus broken ones,
through the CLI (skips when ../shared/data/formats is absent)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SHARED, run_cli

FORMATS = SHARED / "formats"
UNREAD = {"exiftool_GIMP.xcf", "layeredimage_layered_image.xcf", "layeredimage_layered_image.pdn",
          "layeredimage_layered_image.lsr", "exiftool_DNG.dng", "broken.jpg"}


@pytest.mark.skipif(not FORMATS.is_dir(), reason="no ../shared/data/formats")
def test_train_index_and_organize_a_folder_of_every_format(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    for f in FORMATS.iterdir():
        if f.name != "SOURCE.md":
            shutil.copy(f, art / f.name)
    (art / "broken.jpg").write_bytes((FORMATS / "jxlconf_bicycles_ref.png").read_bytes()[:5000])
    (art / "notes.txt").write_text("not a picture")  # a document: passed over, not an image and not bad
    (art / "SHA256SUMS").write_text("0" * 64 + "  broken.jpg\n")
    r = run_cli("train", str(art), "--model", "conv", "--image-size", "16", "--latent-dim", "4", "--epochs", "2",
                "--out", str(tmp_path / "m"), "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("index", str(tmp_path / "m"), str(art), "--catalog", str(tmp_path / "c"), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    res = json.loads(r.stdout)
    n_files = sum(1 for _ in art.iterdir()) - 2  # the two documents
    assert res["images"] == n_files - len(UNREAD) and res["bad"] == len(UNREAD)
    assert "notes.txt" not in r.stderr and "SHA256SUMS" not in r.stderr
    for name in UNREAD:  # each named once, with its reason
        assert sum(name in line for line in r.stderr.splitlines()) == 1, (name, r.stderr)
    assert "GIMP XCF" in r.stderr and "without pixel data" in r.stderr
    r = run_cli("cluster", str(tmp_path / "c"), "--k", "3", "--organize", str(tmp_path / "folders"), "--json")
    assert r.returncode == 0, r.stderr
    organized = [p.name for p in (tmp_path / "folders").rglob("*") if p.is_file() or p.is_symlink()]
    assert "immich_IMG_2682.heic" in organized and "mypaint_bigimage.ora" in organized
