"""Proving that the graded tests bite: they pass on the solutions and fail on the stubs."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checks import _is_grade, _is_solution, _meta, exercise_notebook, read_notebook, validate
from .student import student_version

# --------------------------------------------------------------------------- execution


@dataclass
class CellRun:
    """What happened to one code cell.

    ``error`` is ``"Name: message"`` of what the cell raised, or None; ``fatal`` is true when
    the kernel died or the cell timed out rather than raising.
    """

    index: int
    grade_id: str | None
    role: str  # "setup", "solution", "tests" or "other"
    error: str | None
    seconds: float
    fatal: bool = False
    probe: str | None = None  # "stub", "isolated", "restore": see prove_tests_bite


@dataclass
class BiteReport:
    """Outcome of :func:`prove_tests_bite` for one notebook."""

    path: Path
    instructor: list = field(default_factory=list)
    student: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return not self.problems


def _role(cell, is_first):
    meta = _meta(cell)
    if meta and meta.get("grade"):
        return "tests"
    if meta and meta.get("solution"):
        return "solution"
    return "setup" if is_first else "other"


def run_cells(nb, *, cwd=".", timeout=120, kernel_name=None):
    """Execute every code cell of ``nb`` in one fresh kernel, recording each cell's error.

    Unlike ``nbconvert --execute`` it goes on after a failing cell, so it reports every
    cell; a dead kernel marks the remaining cells as failed.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Usually :func:`exercise_notebook` of an instructor or student version; its cells
        get their outputs.
    cwd : str or Path
        Working directory of the kernel (the notebook's folder).
    timeout : float
        Seconds allowed per cell.
    kernel_name : str, optional
        Defaults to the notebook's kernelspec name (``python3``).

    Returns
    -------
    list of CellRun
        One per code cell; ``index`` is the cell's index in the original notebook when
        ``nb`` came from :func:`exercise_notebook`.
    """
    from jupyter_core.utils import run_sync

    return run_sync(_run_cells_async)(nb, cwd=cwd, timeout=timeout, kernel_name=kernel_name)


async def _run_cells_async(nb, *, cwd, timeout, kernel_name):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

    kernel_name = kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(cwd)}})
    runs, dead = [], None
    async with client.async_setup_kernel():
        for position, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            index = cell.metadata.get("course_grading", {}).get("index", position)
            meta = _meta(cell)
            tic = time.perf_counter()
            error, fatal = dead, dead is not None
            if dead is None:
                try:
                    await client.async_execute_cell(cell, position)
                except CellExecutionError as exc:
                    error = f"{exc.ename}: {exc.evalue}"
                except (DeadKernelError, CellControlSignal, TimeoutError) as exc:
                    error, fatal = f"{type(exc).__name__}: {exc}".strip(), True
                    if isinstance(exc, DeadKernelError):
                        dead = "kernel died in an earlier cell"
            runs.append(CellRun(index, meta.get("grade_id") if meta else None,
                                _role(cell, not runs), error, time.perf_counter() - tic, fatal,
                                cell.metadata.get("course_grading", {}).get("probe")))
    return runs


async def _run_both(first, second, **kwargs):
    """Two notebooks, each in its own kernel, at the same time."""
    import asyncio

    return await asyncio.gather(_run_cells_async(first, **kwargs),
                                _run_cells_async(second, **kwargs))


def prove_tests_bite(path, *, timeout=120):
    """Show that every graded test passes on the solution and fails on the student stub.

    Executes the setup cell plus the Exercises section twice, each in its own fresh kernel
    (the two run concurrently):

    * the instructor version: every code cell must succeed. Then, in the same kernel, each
      exercise on its own: its solution cells are replaced by their stubs and its visible
      tests run again (they must raise), then the solution is restored. This shows that
      each exercise's tests test *that* exercise, not only an earlier one they call.
    * the student version from :func:`student_version`: every graded test cell must
      raise; the setup cell must succeed and no cell may kill the kernel or time out.

    Parameters
    ----------
    path : str or Path
        Instructor notebook.
    timeout : float
        Seconds allowed per cell.

    Returns
    -------
    BiteReport
        ``problems`` names the notebook and the grade_id of each offending exercise.
    """
    from jupyter_core.utils import run_sync

    path = Path(path)
    tic = time.perf_counter()
    nb = read_notebook(path)
    report = BiteReport(path)
    report.problems = validate(nb, path=path)
    if report.problems:
        return report
    student = student_version(nb)
    instructor = exercise_notebook(nb)
    instructor.cells += _isolation_probes(nb, student)
    # both versions at once, each in its own kernel: kernel start-up and the setup cell's
    # imports dominate, and they overlap well
    report.instructor, report.student = run_sync(_run_both)(
        instructor, exercise_notebook(student), cwd=path.parent, timeout=timeout,
        kernel_name=None)
    for run in report.instructor:
        what = f"exercise cell {run.grade_id!r}" if run.grade_id else f"{run.role} cell"
        if run.probe == "isolated":
            if run.error is None:
                report.problems.append(
                    f"{path}: exercise {run.grade_id!r} (cell {run.index}): its tests PASS "
                    "when only this exercise is left unsolved; they must call this "
                    "exercise's function")
        elif run.error:
            when = "" if run.probe is None else " (while stubbing one exercise at a time)"
            report.problems.append(
                f"{path}: instructor version{when}: {what} (cell {run.index}) raised "
                f"{run.error}; the solution must pass its tests, running on the setup cell "
                "alone")
    for run in report.student:
        if run.fatal:
            report.problems.append(f"{path}: student version: cell {run.index} "
                                   f"({run.grade_id or run.role}): {run.error}; an unsolved "
                                   "exercise must raise, not hang or kill the kernel")
            break
        if run.role == "setup" and run.error:
            report.problems.append(f"{path}: student version: the setup cell (cell {run.index}) "
                                   f"raised {run.error}")
        if run.role == "tests" and run.error is None:
            report.problems.append(
                f"{path}: exercise {run.grade_id!r} (cell {run.index}): its tests PASS on the "
                "student stub; they must fail until the exercise is solved (call the "
                "exercise function and check what it returns)")
    report.seconds = time.perf_counter() - tic
    return report


def _isolation_probes(nb, student):
    """Cells that stub one exercise, rerun its visible tests, and restore its solution."""
    probes, solutions, previous = [], [], []
    for index, cell in enumerate(nb.cells):
        if _is_solution(cell):
            solutions.append(index)
        elif _is_grade(cell):
            # an exercise's solutions are those since the previous test cell; a test cell
            # right after another one tests the same solutions
            group, solutions = solutions or previous, []
            previous = group
            for probe, cells in (("stub", [student.cells[i] for i in group]),
                                 ("isolated", [student.cells[index]]),
                                 ("restore", [nb.cells[i] for i in group])):
                for original, source in zip(group if probe != "isolated" else [index], cells):
                    probe_cell = copy.deepcopy(source)
                    probe_cell.outputs = []
                    probe_cell.metadata["course_grading"] = {"index": original, "probe": probe}
                    probes.append(probe_cell)
    return probes
