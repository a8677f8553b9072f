"""Figure plumbing shared by every panel (lessons 00-07): figures outside pyplot, PNG rendering, wiring
ipywidgets controls to a view, and timing an update.

A *view* is a matplotlib Figure (not managed by pyplot, so the inline backend never shows it twice) plus
`update(**values)`, which changes artists in place (set_offsets, set_data, set_UVC) and returns the view.
`wire(view, **controls)` connects ipywidgets controls to update() and shows the figure as a PNG <img> inside an
ipywidgets.Output. The layout is computed once and then frozen; a view may also mark the artists its updates
change (`animate`), so a render redraws only those over a cached background. Static figures are plain
functions that return a pyplot figure. The per-panel update times are in each lesson module's docstring.
"""
import contextlib
import io
import time

import ipywidgets as widgets
import numpy as np
import PIL.Image
import torch
from IPython.display import Image, clear_output, display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def to_np(x):
    """A tensor or array-like as a numpy array (detached, on the CPU)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def new_figure(ncols=1, figsize=(5, 4), nrows=1, **subplot_kw):
    """A Figure outside pyplot (so the inline backend does not show it again) with nrows x ncols axes and
    constrained layout (frozen after the first draw, see `freeze`)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # draws straight to PNG, without savefig's rcParams (the series sets bbox "tight")
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread: widget updates use small tensors, where waking a second thread costs more
    than the work (measured: a 600 x 600 cdist takes 1 ms on one thread, 40 ms on two busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def freeze(fig):
    """Run the layout engine once and then switch it off: later redraws skip the layout pass (faster)."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    fig.layout_frozen = True
    return fig


def animate(fig, artists):
    """Mark the artists an update changes: png() then redraws only them over a cached background (blitting)."""
    for a in artists:
        a.set_animated(True)
    fig.animated = list(artists)  # drawn in this order, over everything static
    fig.background = None


def png(fig):
    """PNG bytes of `fig`: one draw (a tight bounding box would cost a second one) and fast compression (live
    images are not stored in the notebook). The first call freezes the layout unless `freeze` already did. If
    animate() was called, the static part is drawn once and cached, and each later call only restores it and
    draws the animated artists: about 4x faster than a full draw."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if not getattr(fig, "layout_frozen", False):
        freeze(fig)
    animated = getattr(fig, "animated", None)
    if animated:
        if fig.background is None:
            canvas.draw()  # everything except the animated artists
            fig.background = canvas.copy_from_bbox(fig.bbox)
        canvas.restore_region(fig.background)
        for artist in animated:
            fig.draw_artist(artist)
    else:
        canvas.draw()
    buf = io.BytesIO()
    PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
        buf, format="png", compress_level=1)
    return buf.getvalue()


def wire(view, **controls):
    """Connect controls (name -> ipywidgets value widget) to view.update(name=value); returns the panel
    (controls above the figure). Each change redraws the figure as an <img> inside an ipywidgets.Output, with
    torch on one thread; an error in update() is printed there instead of vanishing into the browser console."""
    out = widgets.Output()

    def redraw(**values):
        with out, one_thread():
            clear_output(wait=True)
            view.update(**values)
            panel.last_png = png(view.fig)
            panel.renders += 1
            display(Image(data=panel.last_png))

    for name, control in controls.items():
        control.observe(lambda change, name=name: redraw(**{name: change["new"]}), names="value")
    panel = widgets.VBox([widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")), out])
    panel.output, panel.renders = out, 0  # renders and last_png let a notebook cell check the callbacks ran
    redraw(**{name: control.value for name, control in controls.items()})
    return panel


def time_update(view, values, repeats=3):
    """Median milliseconds of view.update(**v) + PNG render over the keyword dicts in `values`, with torch on
    one thread as in `wire`."""
    png(view.fig)  # the first render fixes the layout
    times = []
    with one_thread():
        for _ in range(repeats):
            for v in values:
                start = time.perf_counter()
                view.update(**v)
                png(view.fig)
                times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))
