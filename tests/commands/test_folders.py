"""`cluster --organize` can never lose an original (issue: data loss with --force)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

import latentfolio as lf
from latentfolio.errors import LatentfolioError

from conftest import write_shapes

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
MODEL = V1 / "model"  # a tiny 16 px grey conv model


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def collection(tmp_path):
    src = tmp_path / "art"
    write_shapes(src / "a", 10, size=16, seed=0)
    write_shapes(src / "b", 10, size=16, seed=1)
    lf.index(MODEL, src, tmp_path / "art.catalog", workers=0, progress=False)
    return src, tmp_path / "art.catalog"


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_organize_over_its_own_source_loses_nothing(collection, tmp_path, mode):
    """organize into X, index X, then organize X's catalog into X with --force: refused."""
    src, cat = collection
    before = files(src)
    x = tmp_path / "X"
    lf.cluster(cat, x, k=3, mode=mode)
    r = lf.index(MODEL, x, tmp_path / "x.catalog", workers=0, progress=False)
    assert r["images"] == 20  # the copies or links, not the contact sheets
    x_before = files(x)
    with pytest.raises(LatentfolioError, match="overlaps the catalogued folder"):
        lf.cluster(tmp_path / "x.catalog", x, k=3, mode=mode, force=True)
    assert files(x) == x_before and files(src) == before
    links = [p for p in x.rglob("*") if p.is_symlink()]
    assert all(p.exists() for p in links)  # no dangling link


@pytest.mark.parametrize("where", ["art", "art/a", "."])
def test_an_output_that_is_inside_or_contains_a_source_is_refused(collection, tmp_path, where):
    src, cat = collection
    with pytest.raises(LatentfolioError, match="overlaps the catalogued folder"):
        lf.cluster(cat, tmp_path / where, k=2, force=True)
    assert len(files(src)) == 20


def test_force_removes_only_what_it_wrote(collection, tmp_path):
    src, cat = collection
    x = tmp_path / "X"
    lf.cluster(cat, x, k=3, mode="copy")
    with pytest.raises(LatentfolioError, match="already exists"):
        lf.cluster(cat, x, k=2)
    (x / "cluster-00" / "mine.jpg").write_bytes(b"the user's")
    with pytest.raises(LatentfolioError, match="did not write .*cluster-00/mine.jpg"):
        lf.cluster(cat, x, k=2, force=True)
    assert (x / "cluster-00" / "mine.jpg").read_bytes() == b"the user's" and (x / "cluster-02").is_dir()
    (x / "cluster-00" / "mine.jpg").unlink()
    r = lf.cluster(cat, x, k=2, force=True)
    assert sorted(p.name for p in x.iterdir()) == [".latentfolio-organize.json", "cluster-00", "cluster-00.png",
                                                   "cluster-01", "cluster-01.png"]
    assert sum(r["organize"]["folders"].values()) == 20 and len(files(src)) == 20


def test_a_folder_without_a_manifest_or_a_file_is_refused(collection, tmp_path):
    _, cat = collection
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.png").write_bytes(b"x")
    with pytest.raises(LatentfolioError, match="did not write"):
        lf.cluster(cat, tmp_path / "full", k=2, force=True)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(LatentfolioError, match="is a file, not a folder"):
        lf.cluster(cat, tmp_path / "a-file", k=2)


def test_a_crafted_row_outside_the_source_is_never_copied(collection, tmp_path):
    src, cat = collection
    secret = tmp_path / "secret.png"
    secret.write_bytes((src / "a" / "000.png").read_bytes())
    db = sqlite3.connect(cat / "catalog.sqlite")
    with db:
        db.execute("UPDATE images SET path = ? WHERE id = 1", (str(secret),))
    db.close()
    with pytest.warns(UserWarning, match="not under the catalogued folder"):
        r = lf.cluster(cat, tmp_path / "X", k=2, mode="copy")
    assert r["organize"]["passed_over"] == 1
    assert not any(p.name == "secret.png" for p in (tmp_path / "X").rglob("*"))


def test_a_killed_organize_is_cleaned_by_force(collection, tmp_path):
    _, cat = collection
    x = tmp_path / "X"
    lf.cluster(cat, x, k=2, mode="copy")
    manifest = json.loads((x / ".latentfolio-organize.json").read_text())
    for rel in manifest["files"][5:]:  # as if killed part-way: the manifest is written first
        (x / rel).unlink()
    lf.cluster(cat, x, k=2, mode="copy", force=True)
    assert len([p for p in x.rglob("*.png") if p.parent != x]) == 20


def test_index_passes_over_links_to_one_file_and_non_files(tmp_path):
    src = tmp_path / "art"
    write_shapes(src, 4, size=16)
    os.symlink(src / "000.png", src / "again.png")  # the same file twice
    os.symlink(tmp_path / "gone.png", src / "dangling.png")
    os.mkfifo(src / "pipe.png")
    with pytest.warns(UserWarning) as caught:
        r = lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    assert r["images"] == 4
    said = " ".join(str(w.message) for w in caught)
    assert "dangling.png: a broken link" in said and "pipe.png: a FIFO" in said


def test_force_never_follows_a_listed_folder_replaced_by_a_link(collection, tmp_path):
    _, cat = collection
    x = tmp_path / "X"
    lf.cluster(cat, x, k=2, mode="copy")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(x / "cluster-00", elsewhere)
    shutil.rmtree(x / "cluster-00")
    os.symlink(elsewhere, x / "cluster-00")  # the files the manifest lists now resolve elsewhere
    n = len(list(elsewhere.iterdir()))
    with pytest.raises(LatentfolioError, match="did not write .*cluster-00"):
        lf.cluster(cat, x, k=2, force=True)
    assert len(list(elsewhere.iterdir())) == n
