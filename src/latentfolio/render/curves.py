"""Training curves: loss per epoch, as a picture."""

from __future__ import annotations

import math

from ..imaging import fig_to_pil, pyplot


def loss_curve(rows: list[dict]):
    """Train and validation loss per epoch (log scale) as a Pillow image."""
    plt = pyplot()
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for k, style in (("train_loss", "-o"), ("val_loss", "-s")):
        ys = [r[k] for r in rows]
        if any(math.isfinite(y) for y in ys):
            ax.plot(ep, ys, style, ms=3, label=k.replace("_", " "))
    ax.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator  # matplotlib is heavy: imported on first use

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    if all(r["train_loss"] > 0 for r in rows):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig_to_pil(fig)
