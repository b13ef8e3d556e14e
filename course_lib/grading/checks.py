"""The nbgrader format of the graded exercises: reading notebooks, checking cells, finding the Exercises section."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat

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
