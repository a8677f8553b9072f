"""Presenter mode without a browser: reading the lessons, picking one, the index, the staged folder, the classroom
switch, and the polling fix for Voilà's executor. The browser test is tests/e2e/test_present.py."""
import asyncio
import concurrent.futures
import os
import queue
import socket
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pytest

from imm_edu import plot, present
from imm_edu.__main__ import main
from imm_edu.widgets import png, toys

REPO = Path(__file__).resolve().parents[1]
LESSON_FILES = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_lesson_has_a_title_and_a_goal():
    found = present.lessons(REPO / "notebooks")
    assert [lesson.path.name for lesson in found] == LESSON_FILES
    for lesson in found:
        assert lesson.title.startswith(f"{lesson.number} · ") and "\n" not in lesson.goal and len(lesson.goal) > 20


@pytest.mark.parametrize("spec", ["4", "04", "04_imm_jump", "imm_jump", "04_imm_jump.ipynb"])
def test_pick_a_lesson_by_number_or_name(spec):
    assert present.pick(spec, present.lessons(REPO / "notebooks")).path.name == "04_imm_jump.ipynb"


def test_unknown_lesson_names_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["present", "99", "--no-browser"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no lesson '99'" in err and "04_imm_jump" in err


def test_a_folder_without_lessons_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lessons"):
        present.lessons(tmp_path)


def test_a_lesson_without_goals_is_refused(tmp_path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · x\n\nno goals")]),
                   tmp_path / "09_x.ipynb")
    with pytest.raises(ValueError, match="Learning goals"):
        present.lessons(tmp_path)


def test_stage_copies_the_lessons_and_writes_an_index_that_links_each(tmp_path):
    found = present.lessons(REPO / "notebooks")
    folder = present.stage(found, tmp_path, classroom=True)
    assert sorted(p.name for p in folder.glob("[0-9][0-9]_*.ipynb")) == LESSON_FILES
    index = nbformat.read(folder / present.INDEX, as_version=4)
    text = "\n".join(cell.source for cell in index.cells)
    assert all(cell.cell_type == "markdown" for cell in index.cells)  # nothing to run on the index page
    for lesson in found:
        assert f"[{lesson.title}]({lesson.path.name})" in text and lesson.goal in text
    assert "Classroom mode" in text


def test_port_in_use_is_refused_before_anything_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} is in use"):
            present.serve(port=port, browser=False, notebooks=REPO / "notebooks")


def test_voila_command_and_environment():
    cmd = present.voila_command("/lessons", 8899)
    assert cmd[:3] == [sys.executable, "-m", "imm_edu.present"] and "--port=8899" in cmd and "--no-browser" in cmd
    env = present.voila_env(classroom=True)
    assert env["IMM_EDU_CLASSROOM"] == "1" and env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)
    assert present.voila_env(classroom=False)["IMM_EDU_CLASSROOM"] == "0"


def run_in_new_loop(coroutine):
    """asyncio.run in a thread of its own: the browser tests' playwright keeps an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_poll_in_slices_keeps_polling_until_a_message_comes_and_honours_a_timeout():
    calls, ready_at_poll = [], 4

    async def get_msg(channel, timeout=None):  # a socket whose message is there only at poll number `ready_at_poll`
        calls.append(timeout)
        await asyncio.sleep(timeout)
        if len(calls) < ready_at_poll:
            raise queue.Empty
        return {"msg": "ready"}

    sliced = present.poll_in_slices(get_msg, step=0.05)
    assert run_in_new_loop(sliced(None, timeout=None)) == {"msg": "ready"}
    assert calls == [0.05] * 4  # short polls, never one endless wait
    calls.clear()
    ready_at_poll = 10**9  # never ready: the caller's timeout must end the wait
    with pytest.raises(queue.Empty):
        run_in_new_loop(sliced(None, timeout=0.2))
    assert calls and max(calls) <= 0.05 and sum(calls) <= 0.2 + 1e-9


def test_classroom_enlarges_every_later_figure_widgets_included():
    before = {key: plt.rcParams[key] for key in plot.CLASSROOM_STYLE}
    try:
        plot.classroom(False)
        normal = png(toys.ToyGalleryView(toys.toy_samples(n=200), name="moons").fig)
        plot.classroom()
        assert plt.rcParams["font.size"] > plot.SERIES_STYLE["font.size"] and plt.rcParams["lines.linewidth"] >= 2.5
        big = png(toys.ToyGalleryView(toys.toy_samples(n=200), name="moons").fig)  # a Figure outside pyplot
        assert plt.figure().dpi == plot.CLASSROOM_STYLE["figure.dpi"]
        plt.close("all")
        width = lambda data: int.from_bytes(data[16:20], "big")  # PNG header: IHDR width
        assert width(big) == pytest.approx(1.5 * width(normal), rel=0.02)
        plot.classroom(False)
        assert {key: plt.rcParams[key] for key in plot.SERIES_STYLE} == plot.SERIES_STYLE
    finally:
        plt.rcParams.update(before)


def test_environment_variable_turns_classroom_on_at_import():
    code = "import matplotlib.pyplot as plt, imm_edu.plot; print(plt.rcParams['figure.dpi'])"
    env = {**os.environ, "IMM_EDU_CLASSROOM": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert float(out) == plot.CLASSROOM_STYLE["figure.dpi"]
