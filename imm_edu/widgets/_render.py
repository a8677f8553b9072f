"""Figure plumbing shared by every panel (lessons 00-07): figures outside pyplot, PNG rendering, wiring
ipywidgets controls to a view, and timing an update.

A *view* is a matplotlib Figure (not managed by pyplot, so the inline backend never shows it twice) plus
`update(**values)`, which changes artists in place (set_offsets, set_data, set_UVC) and returns the view, and keeps
each value it draws under the name of its control (view.t for the control t). `wire(view, **controls)` connects
ipywidgets controls to update() and shows the figure as PNG bytes in an ipywidgets.Image, with a caption that states
the values the figure shows. The layout is computed once and then frozen; a view may also mark the artists its
updates change (`animate`), so a render redraws only those over a cached background. Static figures are plain
functions that return a pyplot figure. The per-panel update times are in each lesson module's docstring.

Why an Image widget and not an ipywidgets.Output: a figure displayed inside an Output is captured by the front end.
Headless runners (nbclient, nbconvert, papermill, nbval) emulate that capture and send the captured output back to
the kernel on the shell channel through a plain (not asyncio) shadow of their asyncio zmq socket. That send can
swallow the edge-triggered wake-up of the kernel's execute_reply, and the runner then waits forever for a reply that
sits in its socket. An Image widget's value is plain widget state: nothing is captured, nothing is sent back.
"""
import contextlib
import html
import io
import time
import traceback

import ipywidgets as widgets
import numpy as np
import PIL.Image
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox


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


def animate(fig, artists, overlays=()):
    """Mark the artists an update changes: png() then redraws only them over a cached background (blitting).
    `overlays` (legends) never change but must stay on top of the animated artists: drawn once, then pasted back as
    pixels each time (text is the slowest thing to draw). Give them an opaque square frame (framealpha=1,
    fancybox=False), or what lay under them at the first draw shows through (inside, or at rounded corners)."""
    for a in (*artists, *overlays):
        a.set_animated(True)
    fig.animated = list(artists)  # drawn in this order, over everything static
    fig.overlays = list(overlays)
    fig.background = None


def redraw_background(fig):
    """The static part of an animated figure changed (say, the curves of another schedule): the next png() draws
    and caches it again."""
    fig.background = None


def _pixel_box(bbox, pad=2):
    """`bbox` grown to whole pixels plus `pad` on each side: copying it keeps a frame's antialiased edge."""
    return Bbox.from_extents(np.floor(bbox.x0) - pad, np.floor(bbox.y0) - pad, np.ceil(bbox.x1) + pad,
                             np.ceil(bbox.y1) + pad)


def png(fig):
    """PNG bytes of `fig`: one draw (a tight bounding box would cost a second one) and fast compression (live
    images are not stored in the notebook). The first call freezes the layout unless `freeze` already did. If
    animate() was called, the static part is drawn once and cached, and each later call only restores it and
    draws the animated artists (and pastes the overlays): about 4x faster than a full draw. An opaque figure is
    encoded without its alpha channel."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if not getattr(fig, "layout_frozen", False):
        freeze(fig)
    animated = getattr(fig, "animated", None)
    if animated:
        first = fig.background is None
        if first:
            canvas.draw()  # everything except the animated artists and overlays
            fig.background = canvas.copy_from_bbox(fig.bbox)
        canvas.restore_region(fig.background)
        for artist in animated:
            fig.draw_artist(artist)
        if first:
            for overlay in fig.overlays:
                fig.draw_artist(overlay)
            fig.overlay_pixels = [canvas.copy_from_bbox(_pixel_box(o.get_window_extent())) for o in fig.overlays]
        for pixels in fig.overlay_pixels:
            canvas.restore_region(pixels)
    else:
        canvas.draw()
    image = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    # opaque: RGB says the same in 3/4 of the bytes and encodes ~20% faster (jump panel: 19 vs 24 ms)
    if fig.patch.get_facecolor()[3] == 1:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


def as_shown(control, value):
    """`value` written the way `control` shows it: a selection widget (dropdown, toggle buttons, selection slider)
    shows the option's label, a slider its value in its readout format, anything else str(value)."""
    if isinstance(control, widgets.widget_selection._Selection):
        labels = dict(zip(control._options_values, control._options_labels))
        return labels.get(value, str(value))
    if getattr(control, "readout_format", None):
        return format(value, control.readout_format)
    return str(value)


def _caption(controls, shown, ms):
    """HTML that states the values a figure shows, each labelled as its control is; data-index (the control's place
    in the panel's row), data-label and data-shown let a browser test compare them with the controls, and
    data-render-ms tells it how long the kernel took (update + PNG)."""
    items = ", ".join(
        f'<span data-index="{i}" data-label="{html.escape(label)}" data-shown="{html.escape(shown[name])}">'
        f"{html.escape(label)} = {html.escape(shown[name])}</span>"
        for i, (name, label) in enumerate((name, c.description or name) for name, c in controls.items())
        if name in shown)
    return (f'<span class="imm-figure-state" data-render-ms="{ms:.0f}" style="color: #666; font-size: 85%">'
            f"figure: {items}</span>")


def _error(values, err):
    """HTML for a failed update: what was asked, the error, and where it was raised."""
    asked = ", ".join(f"{name}={value!r}" for name, value in values.items())
    where = traceback.extract_tb(err.__traceback__)[-1]
    text = (f"update({asked}) failed: {type(err).__name__}: {err}\n"
            f"  raised in {where.name}(), {where.filename.rsplit('/', 1)[-1]} line {where.lineno}")
    return f'<pre class="imm-panel-error" style="color: #b00020; white-space: pre-wrap">{html.escape(text)}</pre>'


def wire(view, **controls):
    """Connect controls (name -> ipywidgets value widget) to view.update(name=value); returns the panel: the controls,
    the figure (an ipywidgets.Image holding PNG bytes), a caption with the values the figure shows (the view's own
    attributes, written as each control shows them) and an error line.

    Each change calls update() with torch on one thread and sets the image. An error in update() is shown in the
    panel, where the student sees it, and raised again, so a cell that sets `.value` fails. `panel.renders` and
    `panel.last_png` let a notebook cell check the callbacks ran; `panel.shown` is the caption as a dict."""
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
    caption, error = widgets.HTML(), widgets.HTML()

    def redraw(**values):
        start = time.perf_counter()
        try:
            with one_thread():
                view.update(**values)
                panel.last_png = png(view.fig)
        except Exception as err:
            error.value = _error(values, err)
            raise
        error.value = ""
        panel.shown = {name: as_shown(control, getattr(view, name)) for name, control in controls.items()
                       if hasattr(view, name)}
        image.value = panel.last_png
        caption.value = _caption(controls, panel.shown, 1000 * (time.perf_counter() - start))
        panel.renders += 1

    for name, control in controls.items():
        control.observe(lambda change, name=name: redraw(**{name: change["new"]}), names="value")
    row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
    panel = widgets.VBox([row, image, caption, error])
    panel.add_class("imm-panel")
    panel.view, panel.controls, panel.image, panel.caption, panel.error = view, controls, image, caption, error
    panel.renders = 0
    redraw(**{name: control.value for name, control in controls.items()})
    return panel


def time_update(panel, values, repeats=3):
    """Median milliseconds of one change through a wired panel's controls (view.update + PNG render, torch on one
    thread, as a student's change costs in the kernel). `values` is a list of {control name: value} dicts; only
    changes that redraw count. The controls are set back afterwards, so the figure agrees with them."""
    if not hasattr(panel, "controls"):
        raise TypeError(f"time_update takes the panel that wire(view, ...) returns (it changes the controls, so the "
                        f"figure keeps agreeing with them); got {type(panel).__name__}")
    unknown = {name for v in values for name in v} - set(panel.controls)
    if unknown:
        raise ValueError(f"no control named {sorted(unknown)} in this panel; it has {sorted(panel.controls)}")
    start_values = {name: control.value for name, control in panel.controls.items()}
    times = []
    for _ in range(repeats):
        for v in values:
            renders, start = panel.renders, time.perf_counter()
            for name, value in v.items():
                panel.controls[name].value = value
            if panel.renders > renders:
                times.append(1000 * (time.perf_counter() - start))
    for name, value in start_values.items():
        panel.controls[name].value = value
    if not times:
        raise ValueError(f"none of {values} changed a control, so nothing was redrawn to time")
    return float(np.median(times))
