"""Interactive, self-contained HTML maps: plotly with its JavaScript inlined (works offline).

Hovering a point shows its thumbnail and path in a floating box; the thumbnails are inlined as
base64 PNGs, so the file needs no network and no other files.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from ..imaging import png_bytes, to_pil

HOVER_JS = """
var gd = document.getElementById('{div}');
var box = document.createElement('div');
box.style.cssText = 'position:fixed;display:none;pointer-events:none;background:#fff;border:1px solid #999;'
  + 'padding:4px;font:12px system-ui,sans-serif;max-width:260px;word-break:break-all;z-index:10';
document.body.appendChild(box);
gd.on('plotly_hover', function (ev) {
  var p = ev.points[0], d = p.customdata;
  box.innerHTML = '<img style="width:112px;image-rendering:pixelated;display:block" src="data:image/png;base64,'
    + d[0] + '"><div>' + d[1] + '</div>';
  box.style.left = (ev.event.clientX + 14) + 'px';
  box.style.top = (ev.event.clientY + 14) + 'px';
  box.style.display = 'block';
});
gd.on('plotly_unhover', function () { box.style.display = 'none'; });
"""


def map_html(xy: np.ndarray, thumbs: np.ndarray, paths: list[str], groups: np.ndarray | None = None,
             names: list[str] | None = None, title: str = "latent map") -> str:
    import plotly.graph_objects as go

    b64 = [base64.b64encode(png_bytes(to_pil(t))).decode() for t in thumbs]
    custom = np.array([[b, html.escape(str(p))] for b, p in zip(b64, paths)], dtype=object)
    fig = go.Figure()
    if groups is None:
        groups = np.zeros(len(xy), np.int64)
        names = ["images"]
    for g in np.unique(groups):
        m = groups == g
        label = "unknown" if g < 0 else (names[g] if names and g < len(names) else f"cluster {g}")
        fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=str(label),
                                   marker={"size": 5 if len(xy) > 2000 else 8}, customdata=custom[m],
                                   hoverinfo="none"))
    fig.update_layout(title=title, template="plotly_white", height=800,
                      xaxis={"showticklabels": False}, yaxis={"showticklabels": False},
                      legend={"itemsizing": "constant"})
    div = "latentfolio-map"
    return fig.to_html(include_plotlyjs=True, full_html=True, div_id=div,
                       post_script=HOVER_JS.replace("{div}", div), config={"displaylogo": False})
