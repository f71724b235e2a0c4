"""Figures shared by the tools: latent maps (dots or thumbnails), rendered with matplotlib."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..imaging import fig_to_pil, pyplot


def plain(text) -> str:
    """Text matplotlib shows as it is: a label like ``$\\alert$`` is not parsed as mathtext."""
    return str(text).replace("$", r"\$")


def scatter_axes(ax, xy: np.ndarray, groups: np.ndarray | None, names: list[str] | None,
                 title: str = "", size: float | None = None) -> None:
    """Dots coloured by group (label or cluster); -1 = unknown, drawn grey."""
    s = size or max(1.0, min(12.0, 4000 / max(1, len(xy))))
    if groups is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=s, c="#4477aa", linewidths=0)
    else:
        groups = np.asarray(groups)
        cmap = pyplot().get_cmap("tab10" if groups.max(initial=0) < 10 else "tab20")
        unknown = groups < 0
        if unknown.any():
            ax.scatter(xy[unknown, 0], xy[unknown, 1], s=s, c="#bbbbbb", linewidths=0, label="?")
        for g in np.unique(groups[~unknown]):
            m = groups == g
            name = plain(names[g] if names and 0 <= g < len(names) else g)
            ax.scatter(xy[m, 0], xy[m, 1], s=s, color=cmap(int(g) % cmap.N), linewidths=0, label=name)
        if len(np.unique(groups)) <= 20:
            ax.legend(markerscale=max(1.0, 6 / s), fontsize=7, loc="best", frameon=False)
    ax.set_title(plain(title), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def scatter_png(xy: np.ndarray, groups=None, names=None, title: str = "") -> Image.Image:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    scatter_axes(ax, xy, groups, names, title)
    return fig_to_pil(fig, tight=True, dpi=110)


def thumbnail_map(xy: np.ndarray, thumbs: np.ndarray, canvas: int = 1600, thumb: int = 28,
                  groups: np.ndarray | None = None) -> Image.Image:
    """Thumbnails placed at their 2-D positions on a white canvas (later ones on top).

    With ``groups``, each thumbnail gets a thin frame in its group's colour.
    """
    plt = pyplot()
    lo, hi = xy.min(0), xy.max(0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    pos = ((xy - lo) / span * (canvas - thumb)).astype(int)
    img = Image.new("RGB", (canvas, canvas), (255, 255, 255))
    cmap = plt.get_cmap("tab10")
    for (x, y), t, g in zip(pos, thumbs, groups if groups is not None else [None] * len(pos)):
        tile = Image.fromarray(t[:, :, 0] if t.shape[2] == 1 else t).convert("RGB").resize((thumb, thumb))
        if g is not None and g >= 0:
            frame = Image.new("RGB", (thumb + 2, thumb + 2),
                              tuple(int(255 * c) for c in cmap(int(g) % 10)[:3]))
            frame.paste(tile, (1, 1))
            tile = frame
        img.paste(tile, (int(x), int(canvas - thumb - y)))  # y grows upwards, as in the scatter
    return img
