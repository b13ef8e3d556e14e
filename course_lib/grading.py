"""Graded exercises: check their nbgrader format, write student versions, prove the tests bite.

The committed notebooks (``notebooks/NN_topic.ipynb``) are the *instructor* versions of
nbgrader assignments: solutions sit between ``### BEGIN SOLUTION`` / ``### END SOLUTION``
lines in cells marked ``solution``, and the graded test cells (marked ``grade``, with
``points``) hold visible asserts and a ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
block. This module is the machinery around that format; it relies on nbgrader's own
preprocessors, metadata validator and autograder rather than re-implementing them.

Command line (run from the repository root)::

    python -m course_lib.grading check               # format of every notebooks/NN_*.ipynb
    python -m course_lib.grading check --execute     # + tests pass on solutions, fail on stubs
    python -m course_lib.grading check --autograde   # + nbgrader autograde: full vs zero marks
    python -m course_lib.grading student --out student   # student versions (``make student``)
    python -m course_lib.grading points              # Markdown table of points per notebook

The *Exercises section* of a notebook is everything from its ``Exercises`` heading (or,
without one, its first nbgrader cell) to its last nbgrader cell. It must run on the
notebook's first code cell (the setup cell) alone; :func:`prove_tests_bite` executes just
those cells, so checking every exercise takes seconds, not a full notebook run.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "CellRun",
    "BiteReport",
    "notebook_paths",
    "read_notebook",
    "validate",
    "check_notebooks",
    "graded_cells",
    "exercise_section",
    "exercise_notebook",
    "student_version",
    "write_student_versions",
    "run_cells",
    "prove_tests_bite",
    "autograde",
    "points_table",
    "main",
]

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TEST_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's default for Python
_NOTEBOOK_NAME = re.compile(r"^\d{2}_\w+\.ipynb$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_EXERCISES_HEADING = re.compile(r"^\s*#{1,6}\s*(graded\s+)?exercises?\b",
                                re.IGNORECASE | re.MULTILINE)
_ASSIGNMENT = "course"


# --------------------------------------------------------------------------- reading


def notebook_paths(folder="notebooks"):
    """The course notebooks ``NN_topic.ipynb`` in ``folder``, sorted by number.

    Parameters
    ----------
    folder : str or Path
        Folder to list (not recursive).

    Returns
    -------
    list of Path
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be an existing directory, got {str(folder)!r}")
    return sorted(p for p in folder.iterdir() if _NOTEBOOK_NAME.match(p.name))


def read_notebook(path):
    """Read a notebook as nbformat v4 (no validation; :func:`validate` reports problems)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing .ipynb file, got {str(path)!r}")
    return nbformat.read(path, as_version=4)


def _meta(cell):
    """The cell's nbgrader metadata dict, or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def _is_grade(cell):
    meta = _meta(cell)
    return bool(meta and meta.get("grade"))


def _is_solution(cell):
    meta = _meta(cell)
    return bool(meta and meta.get("solution"))


def _where(path, index, cell):
    """``path: cell 7 ('03-ex1-tests')`` -- how problems name their place."""
    meta = _meta(cell)
    grade_id = meta.get("grade_id") if meta else None
    label = f"{path}: cell {index}"
    return f"{label} ({grade_id!r})" if grade_id else label


# --------------------------------------------------------------------------- validation


def _marker_problems(source, markers):
    """Balance of one BEGIN/END marker pair in ``source``; a list of messages."""
    begin, end = markers
    problems, open_line = [], None
    for number, line in enumerate(source.split("\n"), start=1):
        # nbgrader matches the delimiters anywhere in a line: so do we
        if begin in line:
            if open_line is not None:
                problems.append(f"nested '### {begin}' on line {number} "
                                f"(the one on line {open_line} is not closed)")
            open_line = number
        elif end in line:
            if open_line is None:
                problems.append(f"'### {end}' on line {number} without a '### {begin}' before it")
            open_line = None
    if open_line is not None:
        problems.append(f"'### {begin}' on line {open_line} without a matching '### {end}'")
    return problems


def _metadata_problems(cell):
    """Problems with one cell's nbgrader metadata, course rules then nbgrader's validator."""
    from nbgrader.nbgraderformat import ValidationError
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    meta = _meta(cell)
    if meta is None:
        if "nbgrader" in cell.get("metadata", {}):
            return ["metadata 'nbgrader' must be a dict"]
        return []
    problems = []
    if meta.get("schema_version") != 3:
        problems.append(f"nbgrader schema_version must be 3, got {meta.get('schema_version')!r}")
    grade_id = meta.get("grade_id")
    if not isinstance(grade_id, str) or not grade_id:
        problems.append(f"nbgrader cell without a grade_id (got {grade_id!r}); "
                        "expected e.g. 'NN-ex1-tests'")
    elif not _GRADE_ID.match(grade_id):
        problems.append(f"grade_id {grade_id!r} may only use letters, digits, '-' and '_'")
    for key in ("grade", "solution", "locked", "task"):
        if not isinstance(meta.get(key), bool):
            problems.append(f"nbgrader metadata {key!r} must be true or false, got "
                            f"{meta.get(key)!r}")
    if meta.get("task"):
        problems.append("task cells are not used in this course (set 'task': false)")
    if meta.get("grade"):
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            problems.append(f"graded cell needs 'points' > 0, got {points!r}")
        if cell.cell_type != "code":
            problems.append("graded cells must be code cells holding the tests")
        if meta.get("solution"):
            problems.append("a graded cell must be a test cell ('solution': false); "
                            "manually graded answers are not autogradable")
        if meta.get("locked") is not True:
            problems.append("graded test cell must be locked ('locked': true)")
    if meta.get("solution"):
        if cell.cell_type != "code":
            problems.append("solution cells must be code cells")
        elif SOLUTION_MARKERS[0] not in cell.source:
            problems.append("solution cell without a '### BEGIN SOLUTION' region "
                            "(wrap the function body so the stub fails only when called)")
        if meta.get("locked"):
            problems.append("solution cell must not be locked ('locked': false)")
    if not problems:
        try:
            MetadataValidatorV3().validate_cell(copy.deepcopy(cell))
        except (ValidationError, KeyError) as exc:
            problems.append(f"nbgrader rejects the metadata: {exc}")
        except Exception as exc:  # jsonschema errors and the like
            problems.append(f"nbgrader rejects the metadata: {type(exc).__name__}: {exc}")
    return problems


def _defined_functions(source):
    """Names of the functions and classes a cell defines at top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _called_names(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.func.id for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def validate(nb, *, path="<notebook>"):
    """Check a notebook's exercises against the course's nbgrader format.

    Checks that the notebook is valid nbformat; that ``### BEGIN/END SOLUTION`` and
    ``### BEGIN/END HIDDEN TESTS`` regions are balanced and sit in solution / graded cells;
    that every nbgrader cell has a valid ``grade_id`` (unique in the notebook),
    ``schema_version`` 3 and the right flags (graded cells: code, locked, points > 0;
    solution cells: code, unlocked, with a solution region), as nbgrader's own validator
    also demands; that there is at least one graded test cell, each after a solution cell;
    and that no cell after the Exercises section calls an exercise function.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook (instructor version).
    path : str or Path, optional
        Used to name the notebook in the messages.

    Returns
    -------
    list of str
        One message per problem, each naming the notebook and the cell index (and
        grade_id when there is one); empty when the notebook is fine.
    """
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"{path}: not a valid notebook: {str(exc).splitlines()[0]}")
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        problems.append(f"{path}: kernelspec language must be 'python', got {language!r}")

    seen = {}
    solution_functions = set()
    solution_before = False
    for index, cell in enumerate(nb.cells):
        where = _where(path, index, cell)
        source = cell.get("source", "")
        for markers, allowed, kind in ((SOLUTION_MARKERS, _is_solution(cell), "solution"),
                                       (HIDDEN_TEST_MARKERS, _is_grade(cell), "graded test")):
            if any(marker in source for marker in markers):
                problems += [f"{where}: {msg}" for msg in _marker_problems(source, markers)]
                if not allowed:
                    problems.append(f"{where}: '### {markers[0]}' region in a cell not marked "
                                    f"as a {kind} cell in its nbgrader metadata")
        problems += [f"{where}: {msg}" for msg in _metadata_problems(cell)]
        meta = _meta(cell)
        if meta is None:
            continue
        grade_id = meta.get("grade_id")
        if isinstance(grade_id, str) and grade_id:
            if grade_id in seen:
                problems.append(f"{where}: duplicate grade_id {grade_id!r} "
                                f"(already used by cell {seen[grade_id]})")
            else:
                seen[grade_id] = index
        if meta.get("solution") and cell.cell_type == "code":
            solution_before = True
            solution_functions |= _defined_functions(source)
        if meta.get("grade") and not solution_before:
            problems.append(f"{where}: graded test cell with no solution cell before it")

    if not any(_is_grade(cell) for cell in nb.cells):
        problems.append(f"{path}: no graded test cell (nbgrader metadata 'grade': true); "
                        "every course notebook needs graded exercises")
    elif not problems:
        _, _, stop = exercise_section(nb)
        for index in range(stop, len(nb.cells)):
            cell = nb.cells[index]
            if cell.cell_type == "code":
                called = sorted(_called_names(cell.source) & solution_functions)
                if called:
                    problems.append(f"{_where(path, index, cell)}: calls exercise function(s) "
                                    f"{', '.join(called)} after the Exercises section; the "
                                    "student version would fail there")
    return problems


def check_notebooks(paths):
    """:func:`validate` each notebook file; a dict ``path -> list of problems``."""
    report = {}
    for path in paths:
        try:
            nb = read_notebook(path)
        except Exception as exc:  # unreadable JSON is a problem to report, not a crash
            report[Path(path)] = [f"{path}: cannot be read as a notebook: {exc}"]
            continue
        report[Path(path)] = validate(nb, path=path)
    return report


# --------------------------------------------------------------------------- structure


def graded_cells(nb):
    """The graded test cells: a list of ``(cell index, grade_id, points)``."""
    return [(index, _meta(cell).get("grade_id"), _meta(cell).get("points", 0))
            for index, cell in enumerate(nb.cells) if _is_grade(cell)]


def exercise_section(nb):
    """Where the setup cell and the Exercises section are.

    Returns
    -------
    setup : int or None
        Index of the first code cell, when it comes before the section.
    start, stop : int
        The section is ``nb.cells[start:stop]``: from the ``Exercises`` heading (or, without
        one, the first nbgrader cell) to the last nbgrader cell, inclusive.
    """
    marked = [index for index, cell in enumerate(nb.cells) if _meta(cell) is not None]
    if not marked:
        raise ValueError("nb has no nbgrader cells, so it has no Exercises section")
    start, stop = marked[0], marked[-1] + 1
    code = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    setup = code[0] if code and code[0] < start else None
    for index in range(start - 1, -1 if setup is None else setup, -1):
        cell = nb.cells[index]
        if cell.cell_type == "markdown" and _EXERCISES_HEADING.search(cell.source):
            start = index
            break
    return setup, start, stop


def exercise_notebook(nb):
    """A copy of ``nb`` reduced to its setup cell and its Exercises section.

    Each kept cell records its index in ``nb`` as ``metadata["course_grading"]["index"]``.
    """
    setup, start, stop = exercise_section(nb)
    keep = ([setup] if setup is not None else []) + list(range(start, stop))
    small = copy.deepcopy(nb)
    small.cells = []
    for index in keep:
        cell = copy.deepcopy(nb.cells[index])
        cell.metadata["course_grading"] = {"index": index}
        small.cells.append(cell)
    return small


# --------------------------------------------------------------------------- student version


def student_version(nb):
    """The student version of an instructor notebook, made by nbgrader's preprocessors.

    The same chain as ``nbgrader generate_assignment`` minus its database steps: lock
    cells, replace solution regions by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
    clear outputs, check metadata, checksum, remove hidden tests, checksum again. It also
    drops the saved widget state (``metadata.widgets``), which nbgrader keeps: it holds the
    instructor's ipywidgets outputs, figures included.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Instructor version; it is not modified.

    Returns
    -------
    nbformat.NotebookNode
    """
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb = copy.deepcopy(nb)
    resources = {}
    chain = [LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
             ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
    for preprocessor in chain:
        nb, resources = preprocessor().preprocess(nb, resources)
    nb.metadata.pop("widgets", None)
    return nb


def write_student_versions(paths, out):
    """Validate the notebooks, then write their student versions into folder ``out``.

    Assets beside a notebook named after it (``03_figure.png`` for ``03_metrics.ipynb``)
    are copied too. Raises ``ValueError`` listing every problem if any notebook is
    malformed, before anything is written.

    Returns
    -------
    list of Path
        The notebooks written.
    """
    paths = [Path(p) for p in paths]
    problems = [msg for msgs in check_notebooks(paths).values() for msg in msgs]
    if problems:
        raise ValueError("cannot write student versions; malformed notebooks:\n"
                         + "\n".join(problems))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        target = out / path.name
        nbformat.write(student_version(read_notebook(path)), target)
        written.append(target)
        prefix = path.name[:3]
        for asset in sorted(path.parent.glob(prefix + "*")):
            if asset.is_file() and asset.suffix != ".ipynb":
                shutil.copy2(asset, out / asset.name)
    return written


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


# --------------------------------------------------------------------------- autograding


def autograde(paths, *, root=None, timeout=120, parallel=True):
    """Grade each notebook's solved and stub versions with nbgrader's autograder.

    Builds an nbgrader course directory ``root/solved/`` (``source/``, ``release/``,
    ``submitted/``, ``autograded/``, ``gradebook.db``) with one assignment made of the
    notebooks' exercise parts (:func:`exercise_notebook`) and runs ``generate_assignment``;
    copies it to ``root/stub/``; then submits the instructor version as student ``solved``
    in the first and the released student version as student ``stub`` in the second, runs
    ``autograde`` in both (two processes at once) and reads the scores from the gradebooks.

    Parameters
    ----------
    paths : list of str or Path
        Instructor notebooks.
    root : str or Path, optional
        Where to create the course directories (kept); a temporary folder by default.
    timeout : float
        Seconds allowed per cell.
    parallel : bool
        Grade the two students concurrently, in two processes.

    Returns
    -------
    dict
        ``{notebook name: {"solved" | "stub": {grade_id: (score, max_score)}}}``.
    """
    from nbgrader.apps import NbGraderAPI

    paths = [Path(p).resolve() for p in paths]
    if not paths:
        raise ValueError("paths must name at least one notebook, got an empty list")
    students = ("solved", "stub")
    with tempfile.TemporaryDirectory(prefix="course-grading-") as scratch:
        base = Path(root) if root is not None else Path(scratch)
        course = base / students[0]
        source = course / "source" / _ASSIGNMENT
        source.mkdir(parents=True, exist_ok=True)
        for path in paths:
            nbformat.write(exercise_notebook(read_notebook(path)), source / path.name)
        with _venv_on_path(), _quiet_sqlalchemy():
            api = NbGraderAPI(config=_nbgrader_config(course, timeout))
            _nbgrader_ok(api.generate_assignment(_ASSIGNMENT), "generate_assignment")
        shutil.copytree(course, base / students[1])
        jobs = [(paths, base / student, student, timeout) for student in students]
        if parallel:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(len(jobs), mp_context=context) as pool:
                results = list(pool.map(_autograde_student, jobs))
        else:
            results = [_autograde_student(job) for job in jobs]
    return {path.name: {student: result[path.name] for student, result in zip(students, results)}
            for path in paths}


def _nbgrader_config(course, timeout):
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.Execute.timeout = int(timeout)
    return config


@contextlib.contextmanager
def _quiet_sqlalchemy():
    with warnings.catch_warnings():
        # nbgrader 0.9 trips SQLAlchemy's autoflush warnings; they are harmless here
        warnings.filterwarnings("ignore", message=".*not in session.*")
        yield


def _autograde_student(job):
    """Submit and autograde one student: ``{notebook name: {grade_id: (score, max)}}``."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    paths, course, student, timeout = job
    released = course / ("source" if student == "solved" else "release") / _ASSIGNMENT
    submitted = course / "submitted" / student / _ASSIGNMENT
    submitted.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(released / path.name, submitted / path.name)
    with _venv_on_path(), _quiet_sqlalchemy():
        api = NbGraderAPI(config=_nbgrader_config(course, timeout))
        _nbgrader_ok(api.autograde(_ASSIGNMENT, student), f"autograde {student}")
        scores = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            for path in paths:
                notebook = gradebook.find_submission_notebook(path.stem, _ASSIGNMENT, student)
                scores[path.name] = {grade.name: (grade.score, grade.max_score)
                                     for grade in notebook.grades}
    return scores


@contextlib.contextmanager
def _venv_on_path():
    """Put this interpreter's ``bin/`` first on PATH: nbgrader's gradebook runs ``alembic``
    as a subprocess, which fails when the virtual environment is not activated (``make``)."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ["PATH"] = old


def _nbgrader_ok(result, step):
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {step} failed: {result.get('error')}\n{result.get('log')}")


# --------------------------------------------------------------------------- points


def points_table(paths):
    """A Markdown table: notebook, graded exercises (grade_ids), points; with a total row."""
    rows = ["| notebook | graded test cells | points |", "|---|---|---:|"]
    total_cells, total_points = 0, 0
    for path in paths:
        cells = graded_cells(read_notebook(path))
        points = sum(p for _, _, p in cells)
        total_cells += len(cells)
        total_points += points
        ids = ", ".join(f"`{grade_id}` ({p:g})" for _, grade_id, p in cells) or "none"
        rows.append(f"| {Path(path).name} | {ids} | {points:g} |")
    rows.append(f"| **total** | {total_cells} | **{total_points:g}** |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- command line


def _paths(args):
    return [Path(p) for p in args.notebooks] if args.notebooks else notebook_paths(args.folder)


def main(argv=None):
    """Command-line entry point; returns the exit status (0 when everything holds)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("check", "check the exercise format (and optionally run it)"),
                            ("student", "write the student versions"),
                            ("points", "print the table of points per notebook")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("notebooks", nargs="*",
                         help="notebooks to use (default: every NN_*.ipynb in --folder)")
        sub.add_argument("--folder", default="notebooks", help="default: notebooks")
        if name == "check":
            sub.add_argument("--execute", action="store_true",
                             help="run setup + Exercises: tests pass on solutions, fail on stubs")
            sub.add_argument("--autograde", action="store_true",
                             help="also grade solved and stub versions with nbgrader autograde")
        if name == "student":
            sub.add_argument("--out", default="student", help="output folder (default: student)")
    args = parser.parse_args(argv)
    paths = _paths(args)
    if not paths:
        print(f"no NN_*.ipynb notebooks in {args.folder}", file=sys.stderr)
        return 1

    if args.command == "points":
        print(points_table(paths))
        return 0
    if args.command == "student":
        try:
            written = write_student_versions(paths, args.out)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        for target in written:
            print(f"wrote {target}")
        return 0

    format_report = check_notebooks(paths)
    problems = [msg for msgs in format_report.values() for msg in msgs]
    for path in paths:
        print(f"{path}: format {'BROKEN' if format_report[path] else 'ok'}")
    if args.execute and not problems:
        for path in paths:
            report = prove_tests_bite(path)
            problems += report.problems
            n_tests = sum(run.role == "tests" for run in report.student)
            print(f"{path}: {n_tests} graded test cells, "
                  f"{'all bite' if report.ok else 'PROBLEMS'} ({report.seconds:.1f} s)")
    if args.autograde and not problems:
        for name, by_student in autograde(paths).items():
            for student, grades in by_student.items():
                got = sum(score for score, _ in grades.values())
                best = sum(top for _, top in grades.values())
                print(f"{name}: nbgrader autograde {student}: {got:g} / {best:g}")
                for grade_id, (score, top) in grades.items():
                    if score != (top if student == "solved" else 0):
                        problems.append(f"{name}: nbgrader autograde gave the {student} version "
                                        f"{score:g}/{top:g} for {grade_id!r} (expected "
                                        f"{'full marks' if student == 'solved' else 'zero'})")
    for msg in problems:
        print(msg, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
