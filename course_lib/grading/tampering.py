"""Tampering report: which submissions changed or deleted the cells a learner may not touch.

nbgrader neutralises tampering silently: the autograder overwrites a locked or graded cell
with the instructor's version (a test replaced by ``assert True`` is graded as the real test)
and only logs a checksum warning, and a deleted test cell comes back (with
``OverwriteCells.add_missing_cells``) or becomes a blank "needs manual grade". The grade is
right, but the instructor never learns who tried. :func:`tampering_report` compares each
submission with the released student version, cell by cell, and names each submission whose
locked or graded cells were changed or deleted, or which cannot be read at all::

    python -m course_lib.grading tampering 03_metrics --course course
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["protected_cells", "notebook_tampering", "tampering_report"]


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def protected_cells(nb):
    """``{grade_id: cell}`` of the cells a learner may not change: locked or graded.

    Solution cells are the learner's to edit and are not included (unless locked).
    """
    cells = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("grade_id") and (meta.get("locked") or meta.get("grade")) and not (
                meta.get("solution") and not meta.get("locked")):
            cells[meta["grade_id"]] = cell
    return cells


def notebook_tampering(submitted, released):
    """What a submission changed in the protected cells of the released notebook.

    Parameters
    ----------
    submitted, released : nbformat.NotebookNode
        The learner's notebook and the student version it was handed out as.

    Returns
    -------
    list of str
        One line per deleted or changed protected cell (``"cell '03-ex1-tests' deleted"``,
        ``"cell '03-ex1-tests' changed"``); empty for an honest submission.
    """
    theirs = {}
    for cell in submitted.cells:
        grade_id = _meta(cell).get("grade_id")
        if grade_id:
            theirs.setdefault(grade_id, cell)
    problems = []
    for grade_id, cell in protected_cells(released).items():
        mine = theirs.get(grade_id)
        if mine is None:
            problems.append(f"cell {grade_id!r} deleted (or its nbgrader metadata removed)")
        elif mine.cell_type != cell.cell_type or mine.source.strip() != cell.source.strip():
            problems.append(f"cell {grade_id!r} changed")
        elif not (_meta(mine).get("grade") == _meta(cell).get("grade")
                  and _meta(mine).get("points") == _meta(cell).get("points")):
            problems.append(f"cell {grade_id!r}: nbgrader metadata changed")
    return problems


def tampering_report(course, assignment):
    """Check every submission of an assignment in an nbgrader course directory.

    Compares ``submitted/<student>/<assignment>/<notebook>.ipynb`` with
    ``release/<assignment>/<notebook>.ipynb`` for every student and released notebook.

    Parameters
    ----------
    course : str or Path
        The nbgrader course directory (with ``release/`` and ``submitted/``).
    assignment : str
        The assignment's name, e.g. ``"03_metrics"``.

    Returns
    -------
    dict
        ``{student: [problem, ...]}`` for the students with at least one problem: a changed
        or deleted protected cell, a missing notebook, or one that is not a valid notebook.

    Raises
    ------
    ValueError
        If ``release/<assignment>/`` holds no notebook.
    """
    course = Path(course)
    released_dir = course / "release" / assignment
    released = sorted(released_dir.glob("*.ipynb"))
    if not released:
        raise ValueError(f"no released notebook in {released_dir}; run "
                         f"`nbgrader generate_assignment {assignment}` first")
    report = {}
    submitted_root = course / "submitted"
    students = sorted(p.name for p in submitted_root.iterdir()) if submitted_root.is_dir() else []
    for student in students:
        folder = submitted_root / student / assignment
        if not folder.is_dir():
            continue
        problems = []
        for path in released:
            mine = folder / path.name
            if not mine.exists():
                problems.append(f"{path.name}: not submitted")
                continue
            try:
                submitted = nbformat.read(mine, as_version=4)
            except Exception as exc:  # any unreadable file: report it, go on with the others
                problems.append(f"{path.name}: not a valid notebook "
                                f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]})")
                continue
            release = nbformat.read(path, as_version=4)
            problems += [f"{path.name}: {msg}" for msg in notebook_tampering(submitted, release)]
        if problems:
            report[student] = problems
    return report
