"""Reproduce why headless runners stalled on the lessons before the panels drew into an ipywidgets.Image.

    python benchmarks/output_capture_stall.py            # 80 cells each way, about two minutes

Builds notebooks of N cells. In the first, each cell redraws a PNG inside an ipywidgets.Output (`with out:
clear_output(wait=True); display(Image(...))`), as imm_edu's panels used to; the second is the same, but nbclient's
Output emulation is kept from sending the captured outputs back to the kernel (the control experiment: same kernel
work, same messages to the client, no send from the client); in the third, each cell sets an ipywidgets.Image's
value, as the panels do now. Each runs through nbclient at default settings (no cell timeout), with a
watchdog coroutine in the client's event loop. When nothing has arrived for STALL_S seconds, the watchdog reports
whether the kernel's reply is already waiting in the client's zmq socket (ZMQ_EVENTS read through a plain shadow
socket, which does not wake asyncio) and then wakes the asyncio poller (ZMQ_EVENTS read through the asyncio socket,
which makes pyzmq schedule the missed read), so the run goes on and the stalls can be counted. Without the watchdog
each stall lasts forever.

Why: nbclient emulates the front end's Output capture. For every output captured into an Output it sends the
widget's new state back to the kernel as a comm_msg on the shell channel, and jupyter_client sends it through a
plain (sync) shadow of the asyncio socket. A zmq send processes the socket's pending commands, which can consume
the edge-triggered readable notification of a reply that just arrived; because the send bypassed pyzmq's asyncio
layer, pyzmq does not re-check, and nbclient waits for an execute_reply that sits in its socket.
"""
import argparse
import asyncio
import datetime
import sys
import tempfile
import time

import nbformat
import zmq
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget
from nbformat.v4 import new_code_cell, new_notebook

STALL_S = 5
SETUP = """import io
import ipywidgets as widgets
import numpy as np
import PIL.Image
from IPython.display import Image, clear_output, display
rng = np.random.default_rng(0)
def png():
    buf = io.BytesIO()
    PIL.Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(buf, format="png", compress_level=1)
    return buf.getvalue()
out, img = widgets.Output(), widgets.Image(format="png")
display(out, img)"""
OUTPUT = "with out:\n    clear_output(wait=True)\n    display(Image(data=png()))"
KINDS = {  # name: (cell source, whether nbclient's Output emulation sends the captured outputs to the kernel)
    "Output": (OUTPUT, True),
    "Output, nothing sent back": (OUTPUT, False),
    "Image": ("img.value = png()", True),
}


def run(kind, cells):
    """Execute the notebook for `kind`; returns (seconds, stalls: [(cell, reply already waiting, what was
    read late)], how many Output states the client sent back to the kernel on the shell channel)."""
    source, send_back = KINDS[kind]
    nb = new_notebook(cells=[new_code_cell(SETUP)] + [new_code_cell(source) for _ in range(cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, resources={"metadata": {"path": tempfile.gettempdir()}})
    state = {"cell": None, "last": time.monotonic(), "stalls": [], "sent": 0}

    async def watchdog():
        while client.kc is not None:
            await asyncio.sleep(0.5)
            if time.monotonic() - state["last"] < STALL_S:
                continue
            if client.kc is None:
                return
            shell = client.kc.shell_channel.socket
            waiting = bool(zmq.Socket.shadow(shell.underlying).get(zmq.EVENTS) & zmq.POLLIN)
            state["stalls"].append([state["cell"], waiting, None])
            shell.get(zmq.EVENTS)  # through the asyncio socket: pyzmq schedules the read it missed
            state["last"] = time.monotonic()

    def started(cell_index, **_):
        state["cell"] = cell_index

    async def on_start(**_):
        asyncio.ensure_future(watchdog())
        get = client.kc.shell_channel.get_msg

        async def logged(timeout=None):
            msg = await get(timeout=timeout)
            lag = (datetime.datetime.now(datetime.timezone.utc) - msg["header"]["date"]).total_seconds()
            if state["stalls"] and state["stalls"][-1][2] is None:
                state["stalls"][-1][2] = f"{msg['msg_type']} read {lag:.1f} s after the kernel sent it"
            state["last"] = time.monotonic()
            return msg

        client.kc.shell_channel.get_msg = logged

    def sync_state(widget):
        state["sent"] += 1
        if send_back:
            original(widget)

    client.on_notebook_start, client.on_cell_start = on_start, started
    original, OutputWidget.sync_state = OutputWidget.sync_state, sync_state
    try:
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        OutputWidget.sync_state = original
    return seconds, state["stalls"], state["sent"] if send_back else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=80)
    args = parser.parse_args(argv)
    for kind in KINDS:
        seconds, stalls, sent = run(kind, args.cells)
        print(f"{kind}: {args.cells} cells in {seconds:.1f} s, {sent} Output states sent back to the kernel, "
              f"{len(stalls)} stalls of >= {STALL_S} s")
        for cell, waiting, what in stalls[:5]:
            print(f"    cell {cell}: reply already waiting in the socket: {waiting}; {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
