"""The instructor's nbgrader route with the course's configuration (``hub/config/nbgrader_config.py``).

One course directory is built with nbgrader's own commands (``generate_assignment``,
``autograde``, ``generate_feedback``, ``export``, as notebooks/README.md tells an instructor)
from the fixture notebook, with six submissions: solved, the untouched student version, one
that passes the visible tests only, one that replaces a graded test by ``assert True``, one
that deletes a graded test cell, and one that is not JSON. The tests check the grades, that
the feedback reveals no hidden test, and that the tampering report names exactly the
submissions that changed, deleted or broke something.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import grading

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "90_grading_fixture.ipynb"
ASSIGNMENT = "90_fixture"
NAME = FIXTURE.name
# fixture cell indices
SOLUTION_1, TESTS_1, SOLUTION_2, TESTS_2 = 6, 7, 9, 10
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {"state": {"m1": {
    "model_name": "FloatSliderModel", "state": {"value": 0.42}}}, "version_major": 2}}
HIDDEN_CODE = ("np.ones_like(a)) - 0.75", "dtype=int), 2).dtype == np.int64")


def _nbgrader(course, *args):
    env = dict(os.environ, NBGRADER_EXCHANGE=str(course.parent / "exchange"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course,
                          env=env, capture_output=True, text=True, timeout=300)


def _submit(course, student, nb=None, text=None):
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    if text is not None:
        (folder / NAME).write_text(text)
    else:
        nbformat.write(nb, folder / NAME)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course directory after autograde, feedback and export; ``(path, autograde run)``."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    source = nbformat.read(FIXTURE, as_version=4)
    source.metadata["widgets"] = WIDGET_STATE  # as JupyterLab saves an explorer's state
    nbformat.write(source, course / "source" / ASSIGNMENT / NAME)
    (course / "nbgrader_config.py").write_bytes((ROOT / "hub" / "config" / "nbgrader_config.py").read_bytes())
    done = _nbgrader(course, "generate_assignment", ASSIGNMENT)
    assert done.returncode == 0, done.stderr
    release = nbformat.read(course / "release" / ASSIGNMENT / NAME, as_version=4)

    solved = grading.student_version(nbformat.read(FIXTURE, as_version=4))
    instructor = nbformat.read(FIXTURE, as_version=4)
    solved.cells[SOLUTION_1].source = instructor.cells[SOLUTION_1].source
    solved.cells[SOLUTION_2].source = instructor.cells[SOLUTION_2].source
    _submit(course, "solved", solved)
    _submit(course, "untouched", release)
    visible_only = nbformat.from_dict(solved)
    visible_only.cells[SOLUTION_1].source = (  # right on the visible tests, wrong on the hidden one
        "def pixel_accuracy(pred, target):\n"
        "    return float(np.array_equal(pred, target))")
    _submit(course, "visible_only", visible_only)
    cheat = nbformat.from_dict(release)
    cheat.cells[TESTS_1].source = "assert True"
    _submit(course, "cheat", cheat)
    deleter = nbformat.from_dict(release)
    del deleter.cells[TESTS_2]
    _submit(course, "deleter", deleter)
    _submit(course, "broken", text='{"cells": [')

    graded = _nbgrader(course, "autograde", ASSIGNMENT)
    for step in (("generate_feedback", ASSIGNMENT), ("export",)):
        done = _nbgrader(course, *step)
        assert done.returncode == 0, done.stderr
    return course, graded


def _grades(course):
    import csv

    with open(course / "grades.csv") as f:
        return {row["student_id"]: (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(f)}


def test_autograde_reports_the_broken_submission_and_grades_the_others(course):
    path, graded = course
    assert graded.returncode != 0
    assert f"There was an error processing assignment '{ASSIGNMENT}' for student 'broken'" in (
        graded.stderr + graded.stdout)
    for student in ("solved", "untouched", "visible_only", "cheat", "deleter"):
        assert (path / "autograded" / student / ASSIGNMENT / NAME).exists(), student
    assert _grades(path) == {
        "solved": (3, 3),
        "untouched": (0, 3),
        "visible_only": (1, 3),   # exercise 2 only: exercise 1 fails its hidden test
        "cheat": (0, 3),          # the real test is graded, not `assert True`
        "deleter": (0, 3),        # the deleted test cell is restored and graded (add_missing_cells)
        "broken": (0, 3),
    }


def test_feedback_hides_the_hidden_tests(course):
    path, _ = course
    pages = {p.parts[-3]: p.read_text() for p in (path / "feedback").glob(f"*/{ASSIGNMENT}/*.html")}
    assert sorted(pages) == ["cheat", "deleter", "solved", "untouched", "visible_only"]
    for student, page in pages.items():
        for code in (*HIDDEN_CODE, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert code not in page, f"{student}'s feedback shows {code!r}"
        assert grading.feedback.HIDDEN_NOTE in page, student
    # the learner still sees which visible test failed, and that a hidden one failed
    assert "NotImplementedError" in pages["untouched"]
    assert grading.feedback.HIDDEN_ERROR in pages["visible_only"]
    assert "NotImplementedError" not in pages["visible_only"]
    # the autograded notebooks (the instructor's copy) keep everything
    autograded = (path / "autograded" / "visible_only" / ASSIGNMENT / NAME).read_text()
    assert all(code in autograded for code in HIDDEN_CODE)


def test_tampering_report_names_each_tampered_submission(course):
    path, _ = course
    report = grading.tampering_report(path, ASSIGNMENT)
    assert sorted(report) == ["broken", "cheat", "deleter"]
    assert report["cheat"] == [f"{NAME}: cell '90-ex1-tests' changed"]
    assert report["deleter"] == [
        f"{NAME}: cell '90-ex2-tests' deleted (or its nbgrader metadata removed)"]
    assert report["broken"][0].startswith(f"{NAME}: not a valid notebook (")


def test_tampering_command(course, capsys):
    path, _ = course
    assert grading.main(["tampering", ASSIGNMENT, "--course", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"cheat: {NAME}: cell '90-ex1-tests' changed" in out
    assert len(out) == 3
    with pytest.raises(SystemExit):
        grading.main(["tampering"])
    assert grading.main(["tampering", "nope", "--course", str(path)]) == 1
    assert "no released notebook in" in capsys.readouterr().err


def test_release_equals_make_student(course):
    """nbgrader's release/ copy is what `make student` writes: no stale widget state."""
    path, _ = course
    released = nbformat.read(path / "release" / ASSIGNMENT / NAME, as_version=4)
    source = nbformat.read(path / "source" / ASSIGNMENT / NAME, as_version=4)
    assert "widgets" in source.metadata
    ours = grading.student_version(source)
    assert "widgets" not in released.metadata and "widgets" not in ours.metadata
    assert released.metadata == ours.metadata
    assert [(c.source, c.metadata) for c in released.cells] == [
        (c.source, c.metadata) for c in ours.cells]


# --------------------------------------------------------------------------- unit tests


def _graded_cell(source, outputs):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(out) for out in outputs]
    return cell


def _error(line, context):
    return {"output_type": "error", "ename": "AssertionError", "evalue": "secret value 0.75",
            "traceback": ["\x1b[31m---------\x1b[39m",
                          f"Cell \x1b[32mIn[4]\x1b[39m, line {line}\n{context}",
                          "\x1b[31mAssertionError\x1b[39m: secret value 0.75"]}


SOURCE = ("a = 1\nassert a == 1, 'visible'\n### BEGIN HIDDEN TESTS\nassert a * 3 == 4, 'secret'\n"
          "### END HIDDEN TESTS")


def test_hide_hidden_tests_when_a_hidden_line_failed():
    cell = _graded_cell(SOURCE, [{"output_type": "stream", "name": "stdout", "text": "0.75"},
                                 _error(4, "----> 4 assert a * 3 == 4, 'secret'")])
    assert grading.hide_hidden_tests(cell)
    assert cell.source == f"a = 1\nassert a == 1, 'visible'\n{grading.feedback.HIDDEN_NOTE}"
    assert len(cell.outputs) == 1 and cell.outputs[0].ename == grading.feedback.HIDDEN_ERROR
    assert "secret" not in str(cell.outputs) and "0.75" not in str(cell.outputs)


def test_hide_hidden_tests_keeps_a_visible_failure():
    cell = _graded_cell(SOURCE, [_error(2, "----> 2 assert a == 1, 'visible'\n"
                                           "      3 ### BEGIN HIDDEN TESTS\n"
                                           "      4 assert a * 3 == 4, 'secret'")])
    assert grading.hide_hidden_tests(cell)
    (out,) = cell.outputs
    assert out.ename == "AssertionError"
    assert "assert a == 1, 'visible'" in out.traceback[1]
    assert "a * 3" not in str(out) and "HIDDEN" not in str(out)


def test_hide_hidden_tests_leaves_other_cells_alone():
    cell = _graded_cell("assert 1", [{"output_type": "stream", "name": "stdout", "text": "x"}])
    before = nbformat.from_dict(cell)
    assert not grading.hide_hidden_tests(cell)
    assert cell == before
