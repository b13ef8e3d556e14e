"""Grading solved and stub versions with nbgrader's own autograder."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import nbformat

from .checks import _ASSIGNMENT, exercise_notebook, read_notebook

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
