"""Presenter mode: the lessons as clean web pages (markdown, figures and live widgets; no code) served by Voilà.

    python -m imm_edu present                 an index of every lesson (title and goal), opened in the browser
    python -m imm_edu present 04              lesson 04 straight away (the index stays one click away)
    python -m imm_edu present 04 --classroom  projector sizes in every figure (imm_edu.plot.classroom)

The lessons are copied with a generated index.ipynb into a temporary folder, which Voilà serves; the copies are
deleted when the server stops (Ctrl+C). Each page load runs its lesson top to bottom in a fresh kernel.
"""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path

import nbformat

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds imm_edu/ (a clone or site-packages)
LESSON_FILE = re.compile(r"(\d\d)_\w+\.ipynb")
INDEX = "index.ipynb"
DEFAULT_PORT = 8866  # Voilà's own default


@dataclass(frozen=True)
class Lesson:
    number: str  # "04"
    path: Path
    title: str  # the "# " heading of the first cell, e.g. "04 · The IMM jump ..."
    goal: str  # the first of its learning goals, on one line

    @property
    def url(self):
        return f"voila/render/{self.path.name}"


def default_notebooks():
    """notebooks/ next to the package (a clone), else ./notebooks (an installed package, run inside a clone)."""
    for folder in (PACKAGE_ROOT / "notebooks", Path.cwd() / "notebooks"):
        if folder.is_dir():
            return folder
    raise FileNotFoundError("no notebooks/ folder next to imm_edu or in the current folder; pass --notebooks DIR")


def read_lesson(path):
    """Title and first learning goal from the first markdown cell of a lesson."""
    first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown").source
    title = re.search(r"^# (.+)$", first, re.MULTILINE)
    goal = re.search(r"\*\*Learning goals\*\*\s+1\.\s+(.+?)(?=\n\s*\n|\n\d\.|\Z)", first, re.DOTALL)
    if not (title and goal):
        raise ValueError(f"{path.name}: its first markdown cell needs a '# title' line and a numbered "
                         "'**Learning goals**' list")
    return Lesson(LESSON_FILE.fullmatch(path.name).group(1), path, title.group(1).strip(),
                  " ".join(goal.group(1).split()))


def lessons(folder):
    """Every NN_name.ipynb in `folder`, in order."""
    found = [read_lesson(p) for p in sorted(Path(folder).glob("*.ipynb")) if LESSON_FILE.fullmatch(p.name)]
    if not found:
        raise FileNotFoundError(f"no lessons (files named NN_name.ipynb) in {folder}")
    return found


def pick(spec, all_lessons):
    """The lesson named by its number ("4", "04"), its file stem ("04_imm_jump") or the part after the number."""
    spec = spec.removesuffix(".ipynb")
    for lesson in all_lessons:
        stem = lesson.path.stem
        if spec in (stem, stem[3:]) or (spec.isdigit() and int(spec) == int(lesson.number)):
            return lesson
    raise ValueError(f"no lesson {spec!r}; choose one of: {', '.join(l.path.stem for l in all_lessons)}")


def index_notebook(all_lessons, classroom=False):
    """A markdown-only notebook: one linked title and its goal per lesson."""
    rows = "\n".join(f"- **[{l.title}]({l.path.name})**  \n  {l.goal}" for l in all_lessons)
    mode = " Classroom mode: large fonts and thick lines in every figure." if classroom else ""
    intro = (f"# imm-edu: Inductive Moment Matching, taught on 2-D toys\n\n"
             f"Presenter mode: each lesson opens as a page with its text, figures and live widgets, without the "
             f"code. A page runs its lesson from the top when it opens, in a few seconds to a minute.{mode}")
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(intro),
                                           nbformat.v4.new_markdown_cell(rows)])


def stage(all_lessons, folder, classroom=False):
    """Copy the lessons into `folder` and write the index beside them; returns the folder."""
    folder = Path(folder)
    for lesson in all_lessons:
        shutil.copy2(lesson.path, folder / lesson.path.name)
    nbformat.write(index_notebook(all_lessons, classroom), folder / INDEX)
    return folder


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def poll_in_slices(get_msg, step=0.5):
    """Wrap jupyter_client's async `get_msg(timeout)` so that it waits in slices of `step` seconds, each ending with
    a direct poll of the socket. Without it, a missed wake-up of the asyncio poller left Voilà waiting forever
    for a cell that had finished (measured here: 3 of 8 page loads of lesson 04 hung; with it, 0 of 14).
    scripts/run_notebooks.py works around the same miss for nbclient."""
    async def get_msg_in_slices(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = step if deadline is None else min(step, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(self, timeout=left)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    return get_msg_in_slices


def run_voila(argv):
    """Voilà's own command line, with kernel messages polled in slices (`poll_in_slices`)."""
    from jupyter_client.channels import AsyncZMQSocketChannel
    from voila.app import main

    AsyncZMQSocketChannel.get_msg = poll_in_slices(AsyncZMQSocketChannel.get_msg)
    sys.argv = ["voila", *argv]
    return main()


def voila_command(root, port):
    """Voilà serving `root` on localhost:port without a browser of its own (we open the page we want)."""
    return [sys.executable, "-m", "imm_edu.present", str(root), f"--port={port}", "--no-browser",
            "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--show_tracebacks=True"]


def voila_env(classroom):
    """The server's environment, which every lesson kernel inherits: this imm_edu first on the path, and the
    classroom switch read by imm_edu.plot."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    env["IMM_EDU_CLASSROOM"] = "1" if classroom else "0"
    return env


def wait_for_server(proc, port, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Voilà stopped with exit code {proc.returncode} (its messages are above)")
        if not port_is_free(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"Voilà did not answer on port {port} within {timeout_s} s")


def serve(lesson=None, port=DEFAULT_PORT, browser=True, classroom=False, notebooks=None):
    """Serve the index (or one lesson) until Ctrl+C; returns Voilà's exit code."""
    try:
        import voila  # noqa: F401  (only to give a clear message when it is missing)
    except ImportError:
        raise FileNotFoundError("presenter mode needs Voilà: pip install -r requirements.txt (voila==0.5.13)") from None
    all_lessons = lessons(notebooks or default_notebooks())
    page = pick(lesson, all_lessons).url if lesson else f"voila/render/{INDEX}"
    if not port_is_free(port):
        raise ValueError(f"port {port} is in use; choose another with --port")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops Voilà and its kernels too, like Ctrl+C
    with tempfile.TemporaryDirectory(prefix="imm_edu_present_") as root:
        proc = subprocess.Popen(voila_command(stage(all_lessons, root, classroom), port), cwd=root,
                                env=voila_env(classroom))
        try:
            wait_for_server(proc, port)
            url = f"http://127.0.0.1:{port}/{page}"
            print(f"\npresenter mode{' (classroom)' if classroom else ''}: {url}\n"
                  f"index of all lessons: http://127.0.0.1:{port}/voila/render/{INDEX}\nstop with Ctrl+C\n",
                  flush=True)
            if browser:
                webbrowser.open(url)
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            if proc.poll() is None:
                proc.terminate()  # Voilà shuts its kernels down on SIGTERM
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":  # the server process started by serve()
    sys.exit(run_voila(sys.argv[1:]))
