"""Self-contained HTML pages: every image inlined as base64, no external CSS, JS or fonts."""

from __future__ import annotations

import base64
import html
from typing import Iterable

from PIL import Image

from ..imaging import png_bytes

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#222;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;
text-align:left}th{background:#f6f6f6}img{max-width:100%;image-rendering:pixelated}
.muted{color:#777;font-size:.85rem}code{background:#f4f4f4;padding:0 .2rem}
"""


def esc(x) -> str:
    return html.escape(str(x))


def img(image: Image.Image | bytes, alt: str = "", width: int | None = None) -> str:
    data = image if isinstance(image, bytes) else png_bytes(image)
    w = f' width="{width}"' if width else ""
    return f'<img alt="{esc(alt)}"{w} src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def table(rows: Iterable[dict], columns: list[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return "<p class=muted>(none)</p>"
    cols = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def kv_table(d: dict) -> str:
    return table([{"": k, "value": v} for k, v in d.items()], ["", "value"])


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    body = "".join(f"<h2>{esc(h)}</h2>\n{content}\n" for h, content in sections)
    sub = f"<p class=muted>{esc(subtitle)}</p>" if subtitle else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{sub}\n{body}</body></html>\n")
