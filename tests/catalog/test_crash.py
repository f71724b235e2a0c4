"""A catalog under kill -9 and under two processes: never a code on the wrong image.

Kills are real (``os._exit`` at a named point, via ``LATENTFOLIO_KILL_AT``, in a subprocess that
runs the CLI), and so are the two writers. After every fault the catalog is compared with one
made by a clean run over the same files: each path's code, exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import latentfolio as lf
from latentfolio.catalog import Catalog
from latentfolio.catalog import store
from latentfolio.errors import LatentfolioError

from conftest import run_cli, write_shapes

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
MODEL = V1 / "model"  # a tiny 16 px grey conv model


def codes_by_path(catalog: Path) -> dict[str, bytes]:
    """Every image's code as bytes, by path: what `similar` and every tool read."""
    cat = Catalog(catalog)
    try:
        lat = np.asarray(cat.latents())
        return {r["path"]: lat[r["row"]].tobytes() for r in cat.rows("path, row")}
    finally:
        cat.close()


@pytest.fixture
def changed_collection(tmp_path):
    """A catalogued folder, then changed so that the next index compacts: files deleted and
    rewritten. -> (folder, catalog, the codes a clean index of the changed folder gives, the
    codes before the change)."""
    src = tmp_path / "art"
    write_shapes(src / "a", 40, size=16, seed=0)
    write_shapes(src / "b", 40, size=16, seed=1)
    cat = tmp_path / "art.catalog"
    lf.index(MODEL, src, cat, workers=0, progress=False)
    before = codes_by_path(cat)
    for i in range(0, 40, 3):
        (src / "a" / f"{i:03d}.png").unlink()
    write_shapes(src / "b", 10, size=16, seed=7)  # 10 files rewritten: new content under old names
    clean = tmp_path / "clean.catalog"
    lf.index(MODEL, src, clean, workers=0, progress=False)
    return src, cat, codes_by_path(clean), before


@pytest.mark.parametrize("point", ["chunk-encoded", "compact-written", "compact-committed"])
def test_a_kill_anywhere_in_index_never_pairs_a_code_with_another_image(changed_collection, point):
    src, cat, want, before = changed_collection
    r = run_cli("index", str(MODEL), str(src), "--catalog", str(cat), "--workers", "0",
                env={"LATENTFOLIO_KILL_AT": point})
    assert r.returncode == 137, r.stderr  # killed at that point, with no cleanup
    # what a reader sees right after the kill: each image with its own code (old or new), or a
    # refusal that says to run index again; never another image's code
    try:
        seen = codes_by_path(cat)
    except LatentfolioError as e:
        assert "run `latentfolio index` again" in str(e)
    else:
        assert all(code in (want.get(p), before.get(p)) for p, code in seen.items())
    r = run_cli("index", str(MODEL), str(src), "--catalog", str(cat), "--workers", "0")
    assert r.returncode == 0, r.stderr
    assert codes_by_path(cat) == want  # the rerun ends where a clean run does, byte for byte
    assert not list(cat.glob(store.LATENTS + ".gen-*"))


def test_a_committed_compaction_is_finished_by_the_next_reader(changed_collection):
    """Killed after the rows were renumbered but before the code file was switched: a plain
    reader (similar) must see the new codes, not the old file under the new row numbers."""
    src, cat, want, _ = changed_collection
    r = run_cli("index", str(MODEL), str(src), "--catalog", str(cat), "--workers", "0",
                env={"LATENTFOLIO_KILL_AT": "compact-committed"})
    assert r.returncode == 137 and list(cat.glob(store.LATENTS + ".gen-*"))
    assert codes_by_path(cat) == want  # opened, finished, right
    assert not list(cat.glob(store.LATENTS + ".gen-*"))


def test_two_index_runs_on_one_catalog_wait_for_each_other(tmp_path):
    src = tmp_path / "art"
    write_shapes(src / "a", 300, size=16, seed=0)
    write_shapes(src / "b", 300, size=16, seed=1)
    cat = tmp_path / "art.catalog"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "latentfolio.cli", "index", str(MODEL), str(src), "--catalog", str(cat), "--workers", "0"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.3)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    clean = tmp_path / "clean.catalog"
    lf.index(MODEL, src, clean, workers=0, progress=False)
    got = codes_by_path(cat)
    assert len(got) == 600 and got == codes_by_path(clean)
    r = run_cli("index", str(MODEL), str(src), "--catalog", str(cat), "--workers", "0", "--json")
    assert r.returncode == 0 and '"bad": 0' in r.stdout and '"unchanged": 600' in r.stdout


def test_a_second_writer_is_told_whom_it_waits_for(tmp_path):
    from latentfolio.catalog.lock import writer_active, writer_lock

    (tmp_path / "c").mkdir()
    with writer_lock(tmp_path / "c"):
        assert writer_active(tmp_path / "c") == f" (pid {os.getpid()})"
        with pytest.raises(LatentfolioError, match=r"another latentfolio process \(pid \d+\) is writing"):
            with writer_lock(tmp_path / "c", wait=False):
                pass
    assert writer_active(tmp_path / "c") is None


def test_cluster_refuses_to_write_labels_onto_renumbered_rows(changed_collection):
    src, cat, _, _ = changed_collection
    reader = Catalog(cat)  # opened before another process compacts
    lf.index(MODEL, src, cat, workers=0, progress=False)
    with pytest.raises(LatentfolioError, match="changed by another process"):
        reader.set_column("cluster", np.arange(3), [0, 1, 2])
    reader.close()


def test_a_read_only_catalog_can_still_be_searched(changed_collection, monkeypatch, capsys):
    from conftest import cli

    src, cat, _, _ = changed_collection
    lf.index(MODEL, src, cat, workers=0, progress=False)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK and str(cat) in str(p)
                        else real(p, mode, **kw))
    code, out, err = cli(capsys, monkeypatch, "similar", cat, str(src / "b" / "003.png"), "-k", "3", "--json")
    assert code == 0, err
    assert '"003.png' in out or "003.png" in out


def test_a_full_disk_is_named_as_such_not_as_damage(tmp_path, monkeypatch):
    import sqlite3

    src = tmp_path / "art"
    write_shapes(src, 5, size=16)
    lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    real = sqlite3.connect

    class Full:
        def __init__(self, *a, **k):
            self.db = real(*a, **k)

        def execute(self, sql, *a):
            if sql.startswith("PRAGMA journal_mode"):
                raise sqlite3.OperationalError("database or disk is full")
            return self.db.execute(sql, *a)

        def __getattr__(self, k):
            return getattr(self.db, k)

        def __setattr__(self, k, v):
            if k == "db":
                object.__setattr__(self, k, v)
            else:
                setattr(self.db, k, v)
    monkeypatch.setattr(sqlite3, "connect", Full)
    with pytest.raises(LatentfolioError, match="the disk is full"):
        Catalog(tmp_path / "c")
    shutil.rmtree(tmp_path / "c")
