"""The first thing anyone runs: `latentfolio demo`, timed as a newcomer meets it, from the
command to a gallery in the browser with the map painted.

    python -m benchmarks.demo

A fresh process runs `latentfolio demo` on FashionMNIST (from $LATENTFOLIO_DATA) into a new
folder; the clock stops when Debian's Chromium (Playwright) has the gallery open and plotly has
drawn every point. Each step's start, as the demo prints it, is timed too. The baseline in the
same run is the floor every command pays: a fresh Python that imports torch. Prints JSON and
writes benchmarks/results/demo.json.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import save
from .gallery import ARGS

TARGET_S = 180  # issue 48: the gallery open within 3 minutes on 2 cores


def main() -> None:
    from playwright import sync_api

    from latentfolio.gallery.server import free_port

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    floor = time.perf_counter() - t0
    port = free_port("127.0.0.1")
    steps, lines = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "latentfolio.cli", "demo", "--out", str(Path(tmp) / "demo"),
                                 "--offline", "--port", str(port)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                text=True, env={**os.environ})

        def read():
            for line in proc.stderr:
                lines.append(line.rstrip())
                m = re.match(r"demo (\d)/\d: (.*)", line)
                if m:
                    steps[m[2].split(" (")[0]] = round(time.perf_counter() - start, 1)
        threading.Thread(target=read, daemon=True).start()
        url = f"http://127.0.0.1:{port}/"
        try:
            while not any(url in x for x in lines):
                if proc.poll() is not None:
                    raise SystemExit("the demo ended: " + " | ".join(lines[-5:]))
                time.sleep(0.2)
            served = time.perf_counter() - start
            with sync_api.sync_playwright() as p:
                b = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
                pg = b.new_page(viewport={"width": 1440, "height": 860})
                pg.goto(url)
                pg.wait_for_selector("body[data-map-points]", state="attached", timeout=300000)
                painted = time.perf_counter() - start
                points = int(pg.evaluate("() => document.body.dataset.mapPoints"))
                b.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    save("demo", {"data": "fashion-mnist", "steps_started_s": steps, "gallery_answers_s": round(served, 1),
                  "map_painted_s": round(painted, 1), "points": points, "target_s": TARGET_S,
                  "met": painted <= TARGET_S, "baseline_import_torch_s": round(floor, 2),
                  "longest_line": max(len(x) for x in lines)})


if __name__ == "__main__":
    main()
