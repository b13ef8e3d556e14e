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
    python -m course_lib.grading tampering 03_metrics --course course   # changed locked cells

The *Exercises section* of a notebook is everything from its ``Exercises`` heading (or,
without one, its first nbgrader cell) to its last nbgrader cell. It must run on the
notebook's first code cell (the setup cell) alone; :func:`prove_tests_bite` executes just
those cells, so checking every exercise takes seconds, not a full notebook run.

The package is split by job: :mod:`.checks` (the nbgrader format), :mod:`.student` (student
versions), :mod:`.bite` (tests pass on solutions, fail on stubs), :mod:`.autograde`
(nbgrader's autograder), :mod:`.feedback` (feedback without the hidden tests),
:mod:`.tampering` (submissions that changed locked or graded cells), :mod:`.widget_state`
(no stale widget state in released notebooks) and :mod:`.cli` (points table, command line). Every public name is
available here, as ``course_lib.grading.<name>``.
"""

from .autograde import autograde
from .bite import BiteReport, CellRun, prove_tests_bite, run_cells
from .checks import (
    CODE_STUB,
    HIDDEN_TEST_MARKERS,
    SOLUTION_MARKERS,
    check_notebooks,
    exercise_notebook,
    exercise_section,
    graded_cells,
    notebook_paths,
    read_notebook,
    validate,
)
from .cli import main, points_table
from .feedback import HideHiddenTests, hide_hidden_tests
from .student import student_version, write_student_versions
from .tampering import notebook_tampering, protected_cells, tampering_report
from .widget_state import DropWidgetState

__all__ = [
    "SOLUTION_MARKERS",
    "HIDDEN_TEST_MARKERS",
    "CODE_STUB",
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
    "HideHiddenTests",
    "hide_hidden_tests",
    "protected_cells",
    "notebook_tampering",
    "tampering_report",
    "DropWidgetState",
]
