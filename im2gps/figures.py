"""Figure setup, in one place: an off-screen (Agg) matplotlib figure without pyplot.

Every figure of the package (plots, maps, explanations, the report and the web
app) is made here: no global pyplot state, so figures can be drawn from worker
threads and a web server, and nothing opens a window.
"""

from __future__ import annotations

from typing import Any

__all__ = ["new_figure"]


def new_figure(width: float, height: float) -> Any:
    """A ``width x height`` inch figure on an Agg canvas, with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure
