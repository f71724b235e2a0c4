"""The progress bar of long work over many images (index, features): images/s and the time left,
on a terminal only."""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, label: str, show: bool | None = None):
    """A progress bar on a terminal with images/s and the time left -> ``advance(n)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    show = sys.stderr.isatty() if show is None else show
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not show) as prog:
        task = prog.add_task(label, total=total, rate="")

        def advance(n: int) -> None:
            prog.advance(task, n)
            speed = prog.tasks[0].speed
            prog.update(task, rate=f"{speed:,.0f} images/s" if speed else "")
        yield advance
