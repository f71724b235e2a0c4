"""No file outside a collection is read, moved or deleted, whatever a journal or a manifest says;
and a tidy-up killed halfway is finished or undone by recognising its own half-done work."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import latentfolio as lf
from latentfolio.commands import journal
from latentfolio.errors import LatentfolioError

from conftest import cli, run_cli, write_shapes

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
MODEL = V1 / "model"


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (links as their target) -> a hash of its bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def world(tmp_path):
    """A catalogued collection with a duplicate, and a victim folder beside it."""
    src = tmp_path / "art"
    write_shapes(src / "a", 8, size=16, seed=0)
    (src / "a" / "copy.png").write_bytes((src / "a" / "001.png").read_bytes())
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret.txt").write_text("private")
    cat = tmp_path / "art.catalog"
    lf.index(MODEL, src, cat, workers=0, progress=False)
    return tmp_path, src, victim, cat


def crafted(cat: Path, moves, version: int = 2, name: str = "duplicates-20260101-000000.json") -> Path:
    (cat / "journals").mkdir(exist_ok=True)
    p = cat / "journals" / name
    p.write_text(json.dumps({"format_version": version, "kind": "duplicates", "mode": "move", "state": "applied",
                             "moves": moves}))
    return p


@pytest.mark.parametrize("how", ["outside", "not-aside", "dotdot", "through-link"])
def test_a_crafted_journal_cannot_move_a_file_outside(world, capsys, monkeypatch, how):
    tmp, src, victim, cat = world
    if how == "outside":  # "undo" would move victim/_duplicates/x back... from outside the collection
        (victim / "_duplicates").mkdir()
        os.rename(victim / "secret.txt", victim / "_duplicates" / "secret.txt")
        moves = [[str(victim / "secret.txt"), str(victim / "_duplicates" / "secret.txt")]]
    elif how == "not-aside":  # the shape of the reported attack: a move anywhere
        moves = [[str(tmp / "elsewhere" / "stolen.txt"), str(victim / "secret.txt")]]
    elif how == "dotdot":
        moves = [[str(src / "a" / ".." / ".." / "victim" / "x.txt"),
                  str(src / "a" / ".." / ".." / "victim" / "_duplicates" / "secret.txt")]]
    else:  # a folder of the collection that is a link out of it
        os.symlink(victim, src / "a" / "door")
        (victim / "_duplicates").mkdir()
        os.rename(victim / "secret.txt", victim / "_duplicates" / "secret.txt")
        moves = [[str(src / "a" / "door" / "secret.txt"), str(src / "a" / "door" / "_duplicates" / "secret.txt")]]
    before_victim, before_src = tree(victim), tree(src)
    j = crafted(cat, moves)
    code, out, err = cli(capsys, monkeypatch, "undo", j)
    assert code == 2 and err.count("\n") == 1 and "nothing was done" in err, err
    assert tree(victim) == before_victim and tree(src) == before_src
    assert not (tmp / "elsewhere").exists()


def test_a_journal_outside_a_catalog_is_not_read(world, capsys, monkeypatch):
    tmp, src, victim, cat = world
    p = tmp / "loose.json"
    p.write_text(json.dumps({"format_version": 2, "mode": "move", "moves": []}))
    code, _, err = cli(capsys, monkeypatch, "undo", p)
    assert code == 2 and "not in a catalog's journals/ folder" in err


def test_undo_moves_back_only_the_file_the_journal_set_aside(world, capsys, monkeypatch):
    tmp, src, victim, cat = world
    code, out, err = cli(capsys, monkeypatch, "duplicates", cat, "--apply", "--json")
    assert code == 0, err
    applied = json.loads(out)["applied"]
    aside = next((src / "a" / "_duplicates").glob("*.png"))
    aside.write_bytes(b"another file under that name")  # the file in _duplicates is not the one set aside
    code, out, err = cli(capsys, monkeypatch, "undo", applied["journal"])
    assert code == 0 and "not the file the journal set aside" in out
    assert aside.read_bytes() == b"another file under that name"


@pytest.mark.parametrize("where", ["apply", "undo"])
def test_a_move_killed_between_link_and_unlink_is_finished(world, where):
    """Both names are one inode after the kill: undo keeps the original, re-apply completes it."""
    from latentfolio.commands.duplicates import journal_for
    from latentfolio.commands.duplicates import duplicates

    tmp, src, victim, cat = world
    before = tree(src)
    from latentfolio.catalog import Catalog

    c = Catalog(cat)
    path = journal_for(c, duplicates(c)["groups"], None, "move")
    c.close()
    a, b = json.loads(path.read_text())["moves"][0][:2]
    Path(b).parent.mkdir()
    os.link(a, b)  # what a kill between the link and the unlink leaves
    if where == "undo":
        r = journal.undo(path)
        assert r["restored"] == 1 and r["left"] == 0
        assert tree(src) == before and not Path(b).parent.exists()
    else:
        r = journal.apply(path)
        assert r["moved"] == 1 and not os.path.lexists(a) and os.path.isfile(b)
        journal.undo(path)
        assert tree(src) == before


def test_the_gallery_undo_refuses_a_crafted_journal(world):
    from latentfolio.gallery import actions
    from latentfolio.gallery.state import Gallery

    tmp, src, victim, cat = world
    (tmp / "elsewhere").mkdir()
    j = crafted(cat, [[str(tmp / "elsewhere" / "stolen.txt"), str(victim / "secret.txt")]])
    g = Gallery(cat)
    try:
        with pytest.raises(LatentfolioError, match="nothing was done"):
            actions.undo(g, j.name)
    finally:
        g.close()
    assert (victim / "secret.txt").read_text() == "private" and not (tmp / "elsewhere" / "stolen.txt").exists()


# --- organize manifests -------------------------------------------------------------------------
def test_a_manifest_path_through_a_link_deletes_nothing_outside(world):
    tmp, src, victim, cat = world
    out = tmp / "by-cluster"
    lf.cluster(cat, out, k=2)
    os.symlink(victim, out / "sub")
    m = json.loads((out / ".latentfolio-organize.json").read_text())
    m["files"] += ["sub", "sub/secret.txt"]
    (out / ".latentfolio-organize.json").write_text(json.dumps(m))
    with pytest.raises(LatentfolioError, match="did not write"):
        lf.cluster(cat, out, k=2, force=True)
    from latentfolio.commands.folders import clear_previous

    with pytest.raises(LatentfolioError, match="did not write"):
        clear_previous(out)
    assert (victim / "secret.txt").read_text() == "private"


def test_a_killed_organize_copy_is_cleaned_by_the_rerun(world):
    tmp, src, victim, cat = world
    out = tmp / "by-cluster"
    r = run_cli("cluster", str(cat), "--k", "2", "--organize", str(out), "--mode", "copy",
                env={"LATENTFOLIO_KILL_AT": "organize-copy"})
    assert r.returncode == 137, r.stderr
    assert list(out.rglob(".*.tmp"))  # the half-written copy the kill left
    r = run_cli("cluster", str(cat), "--k", "2", "--organize", str(out), "--mode", "copy", "--force")
    assert r.returncode == 0, r.stderr
    assert not list(out.rglob("*.tmp"))
    clean = tmp / "clean"
    assert run_cli("cluster", str(cat), "--k", "2", "--organize", str(clean), "--mode", "copy").returncode == 0
    ours = {k: v for k, v in tree(out).items() if not k.endswith(".json")}
    assert ours == {k: v for k, v in tree(clean).items() if not k.endswith(".json")}


def test_cluster_names_that_meet_a_contact_sheet_are_refused(world):
    from latentfolio.catalog import Catalog
    from latentfolio.commands.folders import write_cluster_folders
    import numpy as np

    tmp, src, victim, cat = world
    c = Catalog(cat)
    try:
        labels = np.array([i % 2 for i in range(len(c))])
        for _ in range(2):  # and again, as with --force
            with pytest.raises(LatentfolioError, match="taken by the contact sheet"):
                write_cluster_folders(c, labels, tmp / "out", "symlink", names={0: "x", 1: "x.png"})
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_organize_after_duplicates_apply_passes_over_the_set_aside_files(world, capsys, monkeypatch, mode):
    tmp, src, victim, cat = world
    assert cli(capsys, monkeypatch, "duplicates", cat, "--apply")[0] == 0
    out = tmp / f"by-{mode}"
    code, _, err = cli(capsys, monkeypatch, "cluster", cat, "--k", "2", "--organize", out, "--mode", mode)
    assert code == 0 and "no longer there" in err
    links = [p for p in out.rglob("*") if p.is_symlink()]
    assert all(p.exists() for p in links)  # no dangling link
    assert len([p for p in out.rglob("*.png") if p.parent != out]) == 8  # 9 files, one set aside


def test_a_full_disk_while_organizing_names_the_output_not_the_original(world, monkeypatch):
    import errno
    import shutil

    tmp, src, victim, cat = world

    def full(a, b, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(b))
    monkeypatch.setattr(shutil, "copy2", full)
    with pytest.raises(LatentfolioError, match=r"by-cluster/.*cannot write the copy \(No space left on device\); "
                                               r"the original .* is untouched"):
        lf.cluster(cat, tmp / "by-cluster", k=2, mode="copy")


def test_a_version_1_journal_is_still_undone(world):
    """Journals written before sizes and hashes were kept ([from, to] pairs) undo as before,
    under the same checks of where their moves go."""
    tmp, src, victim, cat = world
    before = tree(src)
    a, b = src / "a" / "copy.png", src / "a" / "_duplicates" / "copy.png"
    b.parent.mkdir()
    os.rename(a, b)
    j = crafted(cat, [[str(a), str(b)]], version=1)
    r = journal.undo(j)
    assert r["restored"] == 1 and tree(src) == before
    assert json.loads(j.read_text())["state"] == "undone"
