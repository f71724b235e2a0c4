"""Duplicates in tiers with keepers, set aside behind a journal, and put back by `undo`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from PIL import Image

from conftest import cli, write_shapes
from latentfolio.commands.duplicates import closeness


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from latentfolio.training.train import train

    root = tmp_path_factory.mktemp("dedupe")
    write_shapes(root / "train", 60, size=32, colour=True, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTFOLIO_CACHE", str(root / "cache"))
        train(root / "train", root / "m", "conv", image_size=32, latent_dim=8, epochs=3, progress=False)
    return root / "m"


@pytest.fixture
def collection(tmp_path):
    """Shapes with an identical copy, a re-encoded JPEG and a 2x resize among them."""
    root = tmp_path / "art"
    write_shapes(root / "a", 10, size=48, colour=True, seed=1)
    write_shapes(root / "b", 10, size=48, colour=True, seed=2)
    shutil.copy(root / "a" / "001.png", root / "b" / "copy of 001.png")
    Image.open(root / "a" / "002.png").convert("RGB").save(root / "a" / "002.jpg", quality=95)
    Image.open(root / "b" / "003.png").resize((96, 96), Image.Resampling.LANCZOS).save(root / "b" / "003-big.png")
    return root


def _state(root):
    """Every file below ``root`` by path: its bytes' hash and modification time."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def _index(model, data, cat):
    from latentfolio.commands.index import index

    return index(model, data, cat, workers=0, progress=False)


def _groups(cat, **kw):
    from latentfolio.commands.duplicates import duplicates

    return {frozenset(os.path.basename(i["path"]) for i in g["images"]): g for g in duplicates(cat, **kw)["groups"]}


def test_tiers_and_keepers(tmp_path, model, collection):
    _index(model, collection, tmp_path / "c")
    g = _groups(tmp_path / "c")
    ident, reenc, big = g[frozenset({"001.png", "copy of 001.png"})], g[frozenset({"002.png", "002.jpg"})], \
        g[frozenset({"003.png", "003-big.png"})]
    assert ident["tier"] == "identical" and reenc["tier"] == "same" and big["tier"] == "same"
    name = {i["id"]: os.path.basename(i["path"]) for grp in g.values() for i in grp["images"]}
    assert name[big["keep"]] == "003-big.png" and "9,216 px" in big["rule"]  # the largest: most pixels
    os.utime(collection / "b" / "003-big.png", ns=(10**18, 10**18))  # now the newer one
    os.utime(collection / "b" / "003.png", ns=(10**17, 10**17))
    _index(model, collection, tmp_path / "c")
    old = _groups(tmp_path / "c", keep="oldest")[frozenset({"003.png", "003-big.png"})]
    assert os.path.basename(next(i["path"] for i in old["images"] if i["id"] == old["keep"])) == "003.png"
    # a strict "same picture" test makes the JPEG a near duplicate
    assert _groups(tmp_path / "c", same_psnr=90)[frozenset({"002.png", "002.jpg"})]["tier"] == "near"


def test_apply_sets_copies_aside_and_undo_puts_them_back(tmp_path, model, collection, capsys, monkeypatch):
    _index(model, collection, tmp_path / "c")
    before = _state(collection)
    code, out, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c", "--json")
    assert code == 0 and _state(collection) == before  # without --apply: a plan, nothing touched
    code, out, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c", "--apply", "--json")
    assert code == 0, err
    applied = json.loads(out)["applied"]
    assert applied["moved"] == 3
    after = _state(collection)
    moved = {k for k in after if "_duplicates/" in k}
    assert moved == {"b/_duplicates/copy of 001.png", "a/_duplicates/002.png", "b/_duplicates/003.png"}
    assert sorted(after.values()) == sorted(before.values())  # the same bytes, the same times: nothing lost
    r = _index(model, collection, tmp_path / "c")  # the set-aside copies are not indexed again
    assert r["removed"] == 3 and r["added"] == 0
    code, out, err = cli(capsys, monkeypatch, "undo", applied["journal"])
    assert code == 0 and "3 file(s) put back" in out
    assert _state(collection) == before and not list(collection.rglob("_duplicates"))
    journal = json.loads(open(applied["journal"]).read())
    assert journal["state"] == "undone" and len(journal["moves"]) == 3


def test_a_killed_apply_loses_nothing(tmp_path, model, collection, monkeypatch):
    from latentfolio.catalog import Catalog
    from latentfolio.commands import journal
    from latentfolio.commands.duplicates import journal_for
    from latentfolio.commands.duplicates import duplicates

    _index(model, collection, tmp_path / "c")
    before = _state(collection)
    cat = Catalog(tmp_path / "c")
    path = journal_for(cat, duplicates(cat)["groups"], None, "move")
    cat.close()
    real, calls = journal._move, []

    def dies_on_the_second(a, b):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill, between two moves
        real(a, b)
    monkeypatch.setattr(journal, "_move", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        journal.apply(path)
    monkeypatch.setattr(journal, "_move", real)
    assert sum("_duplicates/" in k for k in _state(collection)) == 1
    assert sorted(_state(collection).values()) == sorted(before.values())
    assert journal.undo(path)["restored"] == 1 and _state(collection) == before  # undo finishes it...
    r = journal.apply(path)  # ...or a re-apply does
    assert r["moved"] == 3 and journal.apply(path)["already"] == 3


def test_symlink_mode_moves_nothing(tmp_path, model, collection, capsys, monkeypatch):
    _index(model, collection, tmp_path / "c")
    before = _state(collection)
    code, out, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c", "--apply", "--mode", "symlink",
                         "--tier", "identical", "--json")
    assert code == 0, err
    r = json.loads(out)
    link = collection / "b" / "_duplicates" / "copy of 001.png"
    assert r["applied"]["linked"] == 1 and link.is_symlink() and os.readlink(link) == str(collection / "b" / "copy of 001.png")
    assert (collection / "b" / "copy of 001.png").is_file()
    code, out, err = cli(capsys, monkeypatch, "undo", r["applied"]["journal"])
    assert code == 0 and _state(collection) == before and not link.exists()


def test_bad_journals_and_flags_are_one_line(tmp_path, model, collection, capsys, monkeypatch):
    _index(model, collection, tmp_path / "c")
    bad = tmp_path / "j.json"
    bad.write_text('{"moves": [["/etc/passwd"]]}')
    for args, want in ((("undo", bad), "not a latentfolio journal"), (("undo", tmp_path / "none.json"), "none.json"),
                       (("duplicates", tmp_path / "c", "--keep", "prettiest"), "--keep"),
                       (("duplicates", tmp_path / "c", "--apply", "--mode", "teleport"), "teleport"),
                       (("duplicates", tmp_path / "c", "--tier", "vague"), "--tier")):
        code, out, err = cli(capsys, monkeypatch, *args)
        assert code == 2 and want in err and len(err.strip().splitlines()) == 1, (args, err)


def test_apply_leaves_near_groups_alone_unless_named(tmp_path, model, collection, capsys, monkeypatch):
    """A near group may be two different works that look alike: --apply sets aside the identical
    and same-picture tiers, and near groups only with --tier near."""
    _index(model, collection, tmp_path / "c")
    before = _state(collection)
    # a strict "same picture" test makes the re-encoded JPEG's group a near one
    code, out, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c", "--same-psnr", "90", "--apply", "--json")
    assert code == 0, err
    r = json.loads(out)
    near = [g for g in r["groups"] if g["tier"] == "near"]
    assert near and r["near_left"] == len(near)
    for g in near:  # how close, in words, from the farthest member's distance to the keeper
        assert g["closeness"] == closeness(g["distance"], r["threshold"]) and g["closeness"] in ("very close", "similar", "related")
    moved = {k for k in _state(collection) if "_duplicates/" in k}
    assert "a/_duplicates/002.png" not in moved and "a/_duplicates/002.jpg" not in moved  # the near pair stays
    assert moved and sorted(_state(collection).values()) == sorted(before.values())
    code, out, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c", "--same-psnr", "90", "--tier", "near",
                         "--apply", "--json")
    assert code == 0 and json.loads(out)["applied"]["moved"] >= 1


def test_closeness_in_words():
    assert [closeness(d, 1.0) for d in (0.0, 0.5, 0.51, 1.0, 1.7)] == ["very close", "very close", "similar", "similar", "related"]
