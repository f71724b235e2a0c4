"""The hardening probe: every command against bad input, counting what must never happen.

    python -m benchmarks.reliability [--cases 1000]

Then the fault families of ``benchmarks/faults.py``: kills, two writers, hostile journals and
manifests, and the gallery's server under load.

Each case runs a real command line through ``latentfolio.cli.main`` in this process, with a
time limit: an exception other than the CLI's own exit is a traceback, running past the limit
a hang, and any change to the source folders a file lost. Writes results/reliability.json;
``python -m benchmarks.tables --write`` renders docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from .common import save
from .faults import fault_families

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "v1"
LIMIT_S = 120


class Hang(Exception):
    pass


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(root)).encode("utf-8", "surrogateescape") + p.read_bytes())
    return h.hexdigest()


def run(args: list) -> str:
    """One command line -> "ok", "error" (a one-line error, exit 2), "traceback" or "hang"."""
    from latentfolio.cli import main

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(LIMIT_S)
    err = io.StringIO()
    sys.argv = ["latentfolio", *map(str, args)]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main()
        return "ok"
    except SystemExit as e:
        lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("error: ")]
        return "ok" if e.code in (0, None) else "error" if e.code == 2 and len(lines) == 1 else "traceback"
    except Hang:
        return "hang"
    except BaseException:
        return "traceback"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def lfz_cases(tmp: Path, n: int) -> list[list]:
    from latentfolio.codec.format import pack

    rnd = random.Random(0)
    good = (FIXTURES / "image.lfz").read_bytes()
    fp = bytes.fromhex(json.loads((FIXTURES / "codec" / "meta.json").read_text())["model_fingerprint"])
    cases = []
    for i in range(n):
        b = bytearray(good)
        kind = i % 4
        if kind == 0:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            b = b[:rnd.randrange(len(b))]
        elif kind == 2:
            b[rnd.randrange(len(b) + 1):0] = os.urandom(rnd.randint(1, 8))
        else:
            w, h = rnd.choice([1, 16, 4096, 65535]), rnd.choice([1, 16, 1024, 65535])
            mode = rnd.choice(["L", "RGB", "RGBA", "F", "XYZ", "CMYK"])
            alpha = zlib.compress(bytes(rnd.choice([0, 10**6])), 9) if mode == "RGBA" else None
            b = pack(0, fp, w, h, mode, alpha, os.urandom(rnd.choice([0, 4, 64])))
        f = tmp / f"lfz{i}.lfz"
        f.write_bytes(bytes(b))
        cases.append(["decompress", f, "--model", FIXTURES / "codec", "--out", tmp / f"dec{i}"])
    return cases


def lfa_cases(tmp: Path, n: int) -> list[list]:
    rnd = random.Random(1)
    good = (FIXTURES / "archive.lfa").read_bytes()
    cases = []
    for i in range(n):
        b = bytearray(good)
        if i % 2:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        else:
            b = b[:rnd.randrange(len(b))]
        f = tmp / f"a{i}.lfa"
        f.write_bytes(bytes(b))
        cases.append(["decompress", f, "--model", FIXTURES / "codec", "--out", tmp / f"adec{i}"])
    return cases


def model_cases(tmp: Path) -> list[list]:
    variants = {"meta-list": ("meta.json", "[1]"), "meta-data-str": ("meta.json", '{"data": "x"}'),
                "config-deep": ("config.json", "[" * 50000 + "]" * 50000),
                "config-latent": ("config.json", None), "density-list": ("density.json", "[]"),
                "weights-garbage": ("model.safetensors", "garbage"), "config-missing": ("config.json", "")}
    cases = []
    for name, (f, content) in variants.items():
        d = tmp / f"model-{name}"
        shutil.copytree(FIXTURES / "model", d)
        if content is None:
            cfg = json.loads((d / f).read_text())
            cfg["latent_dim"] = 10**7
            content = json.dumps(cfg)
        if content == "":
            (d / f).unlink()
        else:
            (d / f).write_text(content)
        img = FIXTURES / "original.png"
        cases += [["info", d], ["sample", d, "--out", tmp / f"{name}-s.png"],
                  ["reconstruct", d, img, "--out", tmp / f"{name}-r.png"],
                  ["traverse", d, img, "--out", tmp / f"{name}-t.png"]]
    return cases


def catalog_cases(tmp: Path) -> list[list]:
    cases = []
    variants = ["dim0", "dimx", "version-str", "list", "sqlite-garbled", "nan-codes", "short-codes", "row-outside"]
    for v in variants:
        d = tmp / f"cat-{v}"
        shutil.copytree(FIXTURES / "catalog", d)
        meta = json.loads((d / "catalog.json").read_text())
        if v == "dim0":
            meta["dim"] = 0
        elif v == "dimx":
            meta["dim"] = "x"
        elif v == "version-str":
            meta["format_version"] = "1"
        elif v == "list":
            meta = [1]
        (d / "catalog.json").write_text(json.dumps(meta))
        if v == "sqlite-garbled":
            raw = bytearray((d / "catalog.sqlite").read_bytes())
            raw[100:900] = os.urandom(800)
            (d / "catalog.sqlite").write_bytes(bytes(raw))
        elif v == "nan-codes":
            (d / "latents.f32").write_bytes(np.full(64, np.nan, np.float32).tobytes())
        elif v == "short-codes":
            (d / "latents.f32").write_bytes(b"\0" * 100)
        elif v == "row-outside":
            db = sqlite3.connect(d / "catalog.sqlite")
            with db:
                db.execute("UPDATE images SET path = '/etc/passwd' WHERE id = 1")
            db.close()
        cases += [["similar", d, "1"], ["duplicates", d], ["anomalies", d],
                  ["cluster", d, "--k", "2", "--organize", tmp / f"org-{v}", "--mode", "copy"],
                  ["map", d, "--method", "pca", "--out", tmp / f"map-{v}.png"]]
    return cases


def folder_cases(tmp: Path) -> tuple[list[list], Path]:
    src = tmp / "hostile"
    (src / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(src / "a" / f"{i}.png")
    (src / "a" / "empty.png").write_bytes(b"")
    (src / "a" / "notes.png").write_text("not an image")
    (src / "a" / "cut.png").write_bytes((src / "a" / "0.png").read_bytes()[:40])
    os.symlink("/dev/zero", src / "a" / "zero.png")
    os.mkfifo(src / "a" / "pipe.png")
    os.symlink(src / "gone.png", src / "a" / "dangling.png")
    os.symlink(src / "a" / "loop.png", src / "a" / "loop.png")
    os.symlink(src / "a" / "0.png", src / "a" / "again.png")
    (src / "a" / os.fsdecode(b"\xff\xfe.png")).write_bytes((src / "a" / "1.png").read_bytes())
    (src / "$\\alert$").mkdir()
    shutil.copy(src / "a" / "2.png", src / "$\\alert$" / "x.png")
    (src / "<img src=x onerror=alert(1)>.png").write_bytes((src / "a" / "3.png").read_bytes())
    m, c = FIXTURES / "model", FIXTURES / "codec"
    cases = [["index", m, src, "--catalog", tmp / "hc"], ["train", src, "--epochs", "1", "--out", tmp / "hm"],
             ["compress", c, src, "--out", tmp / "hz"], ["compress", c, src, "--out", tmp / "hz.lfa"],
             ["reconstruct", m, src, "--out", tmp / "hr.png"], ["noise", src, "--spec", "scan", "--out", tmp / "hn"],
             ["cluster", tmp / "hc", "--k", "2", "--organize", src / "inside"],
             ["cluster", tmp / "hc", "--k", "2", "--organize", tmp, "--force"],
             ["cluster", tmp / "hc", "--k", "2", "--organize", tmp / "ho", "--mode", "copy"],
             ["index", m, tmp / "ho", "--catalog", tmp / "hoc"],
             ["cluster", tmp / "hoc", "--k", "2", "--organize", tmp / "ho", "--force", "--mode", "copy"],
             ["map", tmp / "hc", "--method", "pca", "--out", tmp / "hmap.png"],
             ["compress", c, src / "a" / "pipe.png", "--out", tmp / "hp"],
             ["decompress", tmp / "hz", "--out", tmp / "hzd"]]
    return cases, src


def flag_cases(tmp: Path) -> list[list]:
    m, img = FIXTURES / "model", FIXTURES / "original.png"
    return [["train", "digits", "--max-time", "inf", "--out", tmp / "f1"],
            ["train", "digits", "--latent-dim", "1000000000", "--out", tmp / "f2"],
            ["train", "digits", "--kl-warmup", "nan", "--model", "vae", "--out", tmp / "f3"],
            ["train", "digits", "--lr", "-1", "--out", tmp / "f4"], ["train", "digits", "--epochs", "0", "--out", tmp / "f5"],
            ["sample", m, "--temperature", "nan", "--out", tmp / "f.png"], ["sample", m, "-n", "1e9", "--out", tmp / "f.png"],
            ["sample", m, "-n", "1000000000", "--out", tmp / "f.png"],
            ["traverse", m, img, "--range", "nan", "--out", tmp / "f.png"],
            ["traverse", m, img, "--dims", "top0", "--out", tmp / "f.png"],
            ["interpolate", m, img, img, "--steps", "1000000000", "--out", tmp / "f.png"],
            ["blend", m, img, img, "--weights", "nan,nan", "--out", tmp / "f.png"],
            ["similar", FIXTURES / "catalog", "1", "-k", "0"], ["cluster", FIXTURES / "catalog", "--method", "x"],
            ["map", FIXTURES / "catalog", "--out", tmp / "f.gif"], ["anomalies", FIXTURES / "catalog", "--top", "0"],
            ["index", m, tmp, "--batch-size", "0"], ["noise", img, "--spec", "gaussian:lots", "--out", tmp / "fn"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000, help="mutated .lfz files")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["LATENTFOLIO_MODELS"] = str(tmp / "store")
        os.environ["LATENTFOLIO_CACHE"] = str(tmp / "cache")
        folder, src = folder_cases(tmp)
        before = tree_hash(src)
        groups = {"mutated and crafted .lfz files (decompress)": lfz_cases(tmp, args.cases),
                  "mutated .lfa archives (decompress)": lfa_cases(tmp, 300),
                  "crafted model folders (info, sample, reconstruct, traverse)": model_cases(tmp),
                  "crafted and damaged catalogs (similar, duplicates, anomalies, cluster, map)": catalog_cases(tmp),
                  "a folder of hostile entries (index, train, compress, reconstruct, noise, organize)": folder,
                  "bad flag values": flag_cases(tmp)}
        for name, cases in groups.items():
            count = {"cases": len(cases), "ok": 0, "error": 0, "traceback": 0, "hang": 0}
            for c in cases:
                count[run(c)] += 1
            rows[name] = count
            print(name, count, file=sys.stderr, flush=True)
        lost = int(tree_hash(src) != before)
        faults = fault_families(tmp)
    save("reliability", {"groups": rows, "faults": faults, "files_lost": lost,
                         "seconds": round(time.perf_counter() - t0, 1),
                         "hang_limit_s": LIMIT_S,
                         "note": "crashes (signals) would end the probe itself; it ran to the end"})


if __name__ == "__main__":
    main()
