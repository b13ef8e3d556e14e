"""The course in a real browser: JupyterLab + headless Chromium, end to end.

What a learner does on day one, checked by a machine:

* ``make lab`` serves the notebooks; the welcome notebook opens, Run > Run All
  Cells runs it without an error, its matplotlib figures appear, and its
  ipywidgets explorer is live: moving the slider redraws the figure.
* Every student version (``python -m course_lib.grading student``) opens in
  JupyterLab with a kernel and without a broken widget or an error dialog.

The server runs on 127.0.0.1 with a random token, in a temporary copy of
``notebooks/`` (the committed notebooks are never touched), and is stopped with
its kernels and the browser whatever happens. Chromium is the system one
(``make browser-deps`` installs Debian's ``chromium``); Playwright only drives it.
The test skips only when no Chromium is installed.

Run with ``make browser`` or ``.venv/bin/pytest -m browser tests``. A screenshot
goes to ``artifacts/jupyterlab.png``; with ``UPDATE_SCREENSHOT=1`` it also
replaces ``docs/jupyterlab.png`` (the README's picture). On failure,
``artifacts/`` also gets a screenshot of the moment and the server's log.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_browser import (
    JupyterLab,
    broken_widget_messages,
    chromium_page,
    error_outputs,
    error_toasts,
    find_chromium,
    frame_first_widget,
    nudge_first_slider,
    open_dialogs,
    open_notebook,
    output_images,
    run_all_cells,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts"
README_SCREENSHOT = REPO / "docs" / "jupyterlab.png"

# The notebook run end to end: the course's first, with a slider explorer.
COURSE_NOTEBOOK = "00_welcome.ipynb"

# Every course notebook (collected now, so each student version is its own test).
COURSE_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

RUN_ALL_TIMEOUT = 300  # seconds; the quick profile runs 00_welcome in well under a minute


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found (looked for $CHROMIUM, chromium, chromium-browser); "
                    "`make browser-deps` installs Debian's chromium with apt-get")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a temporary copy of notebooks/ (stopped, kernels included, after)."""
    work = tmp_path_factory.mktemp("jupyterlab")
    root = work / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with JupyterLab(root, work) as server:
        yield server


@pytest.fixture(scope="module")
def page(chromium, lab, tmp_path_factory):
    """A page in headless system Chromium with a fresh profile (killed after)."""
    with chromium_page(chromium, tmp_path_factory.mktemp("chromium-profile")) as p:
        yield p


@pytest.fixture(scope="module")
def student_dir(lab):
    """Student versions of the notebooks, written inside the served folder."""
    if importlib.util.find_spec("course_lib.grading") is None:
        pytest.skip("course_lib.grading is absent, so there are no student versions to open")
    out = lab.root_dir / "student"
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib.grading", "student", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, (
        f"`python -m course_lib.grading student` failed ({proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )
    return out


@contextlib.contextmanager
def _evidence_on_failure(page, lab, name):
    """On failure, save a screenshot and the server log to artifacts/ (then re-raise)."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"browser-failure-{name}.png"))
        with contextlib.suppress(Exception):
            (ARTIFACTS / f"browser-failure-{name}.log").write_text(lab.log_tail(20000))
        raise


def _no_alarms(page, when):
    """No dialog (kernel, extension errors), error toast or broken widget on screen."""
    dialogs = open_dialogs(page)
    assert not dialogs, f"JupyterLab shows a dialog {when}: {dialogs}"
    toasts = error_toasts(page)
    assert not toasts, f"JupyterLab shows an error notification {when}: {toasts}"
    broken = broken_widget_messages(page)
    assert not broken, f"a widget failed to display {when}: {broken}"


def _wait_kernel_idle_on_server(lab, path, timeout=90.0):
    """The server's view of the kernel of notebook ``path``, once idle (or at the timeout)."""
    deadline = time.monotonic() + timeout
    kernel = {}
    while time.monotonic() < deadline:
        sessions = [x for x in lab.api("GET", "/api/sessions") if x["path"] == path]
        kernel = sessions[0]["kernel"] if sessions else {}
        if kernel.get("execution_state") == "idle":
            break
        time.sleep(0.5)
    return kernel


def test_course_notebook_runs_with_live_widgets(chromium, lab, page):
    assert (NOTEBOOKS / COURSE_NOTEBOOK).is_file(), (
        f"notebooks/{COURSE_NOTEBOOK} is missing; the browser test runs it end to end")
    with _evidence_on_failure(page, lab, "course-notebook"):
        open_notebook(page, lab, COURSE_NOTEBOOK)
        _no_alarms(page, f"on opening {COURSE_NOTEBOOK}")

        state = run_all_cells(page, timeout=RUN_ALL_TIMEOUT)
        errors = error_outputs(page)
        assert errors == [], f"Run All Cells raised in {COURSE_NOTEBOOK}:\n" + "\n\n".join(errors)
        unrun = [i for i, p in enumerate(state["prompts"]) if p in ("[ ]:", "[*]:", "")]
        assert not unrun, f"code cells (counting non-empty ones) not executed: {unrun}"

        images = output_images(page)
        assert images, "no figure (<img>) rendered in any output area after Run All"

        moved = nudge_first_slider(page)
        assert moved["value_after"] != moved["value_before"], moved
        assert moved["after"] != moved["before"], "the explorer's output did not change"
        _no_alarms(page, "after running and moving the slider")

        ARTIFACTS.mkdir(exist_ok=True)
        frame_first_widget(page)
        shot = ARTIFACTS / "jupyterlab.png"
        page.screenshot(path=str(shot))
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            README_SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, README_SCREENSHOT)


@pytest.mark.parametrize("name", COURSE_NOTEBOOKS)
def test_student_notebook_opens_cleanly(chromium, lab, page, student_dir, name):
    path = student_dir / name
    assert path.is_file(), f"no student version of {name} in {student_dir}"
    with _evidence_on_failure(page, lab, f"student-{Path(name).stem}"):
        try:
            open_notebook(page, lab, f"{student_dir.name}/{name}")
            _no_alarms(page, f"on opening the student version of {name}")
            kernel = _wait_kernel_idle_on_server(lab, f"{student_dir.name}/{name}")
            assert kernel.get("execution_state") == "idle", (
                f"the student version of {name} got no live kernel: {kernel}")
            _no_alarms(page, f"once the kernel of the student version of {name} is up")
            errors = error_outputs(page)
            assert errors == [], f"student {name} carries error outputs:\n" + "\n".join(errors)
        finally:
            lab.shutdown_sessions()  # one idle kernel per notebook would add up
