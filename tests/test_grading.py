"""Tests for course_lib.grading: the exercise format, student versions, and tests that bite.

The machinery is tested on ``tests/fixtures/90_grading_fixture.ipynb`` (two exercises, numpy
only) and broken copies of it; then every real notebook in ``notebooks/`` is checked: its
format, its student version (what ``make student`` writes), that each graded test passes on
the solution and fails on the stub, and that nbgrader's autograder gives full marks to the
solved version and zero to the stub.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import grading

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "90_grading_fixture.ipynb"
NOTEBOOKS = grading.notebook_paths(ROOT / "notebooks")


def _has_graded_cells(path):
    try:
        return bool(grading.graded_cells(grading.read_notebook(path)))
    except Exception:  # unreadable: keep it, so that the tests below fail loudly on it
        return True


GRADED = [p for p in NOTEBOOKS if _has_graded_cells(p)]

# fixture cell indices
SOLUTION_1, TESTS_1, SOLUTION_2, TESTS_2 = 6, 7, 9, 10


def _params(paths, what):
    """One param per notebook; a single skipped param, with the reason, when there is none."""
    if paths:
        return [pytest.param(p, id=p.stem) for p in paths]
    return [pytest.param(None, id="none", marks=pytest.mark.skip(
        reason=f"notebooks/ has no {what} yet; nothing to check"))]


def _fixture():
    return nbformat.read(FIXTURE, as_version=4)


def _write(nb, tmp_path, name="90_bad.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _no_solution_end(nb):
    nb.cells[SOLUTION_1].source = nb.cells[SOLUTION_1].source.replace(
        "    ### END SOLUTION", "")


def _no_solution_begin(nb):
    nb.cells[SOLUTION_2].source = nb.cells[SOLUTION_2].source.replace(
        "    ### BEGIN SOLUTION\n", "")


def _nested_begin(nb):
    nb.cells[SOLUTION_1].source = nb.cells[SOLUTION_1].source.replace(
        "### BEGIN SOLUTION", "### BEGIN SOLUTION\n    ### BEGIN SOLUTION")


def _no_hidden_end(nb):
    nb.cells[TESTS_1].source = nb.cells[TESTS_1].source.replace("### END HIDDEN TESTS", "")


def _no_grade_id(nb):
    del nb.cells[TESTS_1].metadata.nbgrader["grade_id"]


def _no_points(nb):
    del nb.cells[TESTS_1].metadata.nbgrader["points"]


def _unlocked(nb):
    nb.cells[TESTS_2].metadata.nbgrader["locked"] = False


def _schema_2(nb):
    nb.cells[TESTS_2].metadata.nbgrader["schema_version"] = 2


def _duplicate_id(nb):
    nb.cells[TESTS_2].metadata.nbgrader["grade_id"] = "90-ex1-tests"


def _solution_without_metadata(nb):
    del nb.cells[SOLUTION_1].metadata["nbgrader"]


def _hidden_tests_in_ungraded_cell(nb):
    meta = nb.cells[TESTS_1].metadata.nbgrader
    meta["grade"] = False
    del meta["points"]


def _solution_without_region(nb):
    nb.cells[SOLUTION_2].source = "def class_histogram(label, num_classes):\n    return 0"


def _no_graded_cells(nb):
    del nb.cells[TESTS_2]
    del nb.cells[TESTS_1]


def _call_after_section(nb):
    nb.cells.append(nbformat.v4.new_code_cell("print(pixel_accuracy([1], [1]))"))


MALFORMED = {
    "begin-without-end": (_no_solution_end, r"cell 6 \('90-ex1-solution'\): '### BEGIN SOLUTION' "
                          r"on line 3 without a matching '### END SOLUTION'"),
    "end-without-begin": (_no_solution_begin, r"cell 9 \('90-ex2-solution'\): '### END SOLUTION' "
                          r"on line 4 without a '### BEGIN SOLUTION' before it"),
    "nested-begin": (_nested_begin, r"cell 6 \('90-ex1-solution'\): nested '### BEGIN SOLUTION'"),
    "hidden-begin-without-end": (_no_hidden_end, r"cell 7 \('90-ex1-tests'\): '### BEGIN HIDDEN "
                                 r"TESTS' on line 4 without a matching '### END HIDDEN TESTS'"),
    "graded-without-id": (_no_grade_id, r"cell 7: nbgrader cell without a grade_id"),
    "graded-without-points": (_no_points, r"cell 7 \('90-ex1-tests'\): graded cell needs "
                              r"'points' > 0, got None"),
    "graded-unlocked": (_unlocked, r"cell 10 \('90-ex2-tests'\): graded test cell must be locked"),
    "schema-2": (_schema_2, r"cell 10 \('90-ex2-tests'\): nbgrader schema_version must be 3, "
                 r"got 2"),
    "duplicate-id": (_duplicate_id, r"cell 10 \('90-ex1-tests'\): duplicate grade_id "
                     r"'90-ex1-tests' \(already used by cell 7\)"),
    "solution-without-metadata": (_solution_without_metadata, r"cell 6: '### BEGIN SOLUTION' "
                                  r"region in a cell not marked as a solution cell"),
    "hidden-tests-ungraded": (_hidden_tests_in_ungraded_cell, r"cell 7 \('90-ex1-tests'\): "
                              r"'### BEGIN HIDDEN TESTS' region in a cell not marked as a graded"),
    "solution-without-region": (_solution_without_region, r"cell 9 \('90-ex2-solution'\): "
                                r"solution cell without a '### BEGIN SOLUTION' region"),
    "no-graded-cells": (_no_graded_cells, r"no graded test cell"),
    "call-after-section": (_call_after_section, r"cell 12: calls exercise function\(s\) "
                           r"pixel_accuracy after the Exercises section"),
}


# --------------------------------------------------------------------------- format


def test_fixture_is_valid():
    assert grading.validate(_fixture(), path=FIXTURE) == []
    assert grading.exercise_section(_fixture()) == (1, 4, 11)
    assert grading.graded_cells(_fixture()) == [(TESTS_1, "90-ex1-tests", 2),
                                                (TESTS_2, "90-ex2-tests", 1)]


@pytest.mark.parametrize("case", MALFORMED)
def test_check_rejects_malformed_notebook(case, tmp_path):
    mutate, expected = MALFORMED[case]
    nb = _fixture()
    mutate(nb)
    path = _write(nb, tmp_path)
    problems = grading.check_notebooks([path])[path]
    assert any(re.search(re.escape(str(path)) + ": " + expected, msg) for msg in problems), (
        f"no problem matching {expected!r} in {problems}")


def test_check_reports_unreadable_notebook(tmp_path):
    path = tmp_path / "90_bad.ipynb"
    path.write_text("{not json")
    assert re.search(r"90_bad\.ipynb: cannot be read as a notebook",
                     grading.check_notebooks([path])[path][0])


def test_check_command_fails_naming_notebook_and_cell(tmp_path, capsys):
    nb = _fixture()
    _no_solution_end(nb)
    path = _write(nb, tmp_path)
    assert grading.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: cell 6 ('90-ex1-solution'): '### BEGIN SOLUTION' on line 3" in err
    assert grading.main(["check", str(FIXTURE)]) == 0


def test_notebook_paths_rejects_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="folder must be an existing directory, got"):
        grading.notebook_paths(tmp_path / "missing")


def test_exercise_section_needs_nbgrader_cells():
    nb = _fixture()
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    with pytest.raises(ValueError, match="nb has no nbgrader cells"):
        grading.exercise_section(nb)


@pytest.mark.parametrize("path", _params(NOTEBOOKS, "notebook"))
def test_notebook_format(path):
    assert grading.validate(grading.read_notebook(path), path=path) == []


# --------------------------------------------------------------------------- student version


def _hidden_regions(source):
    return re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.DOTALL)


def _assert_student_version(instructor, student, name):
    """Checks common to the fixture and every notebook ``make student`` writes."""
    assert len(student.cells) == len(instructor.cells), name
    text = nbformat.writes(student)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                   '"output_type"'):  # the last one: no outputs anywhere, widget state included
        assert marker not in text, f"{name}: {marker!r} left in the student version"
    _, start, _ = grading.exercise_section(instructor)
    for index, (mine, theirs) in enumerate(zip(instructor.cells, student.cells)):
        where = f"{name} cell {index}"
        if theirs.cell_type == "code":
            assert theirs.outputs == [] and theirs.execution_count is None, f"{where}: output"
        for region in _hidden_regions(mine.source):
            if region.strip():
                assert region.strip() not in theirs.source, f"{where}: hidden tests left"
        if index < start:  # the learner's notebook runs like the instructor's up to here
            assert theirs.source == mine.source, f"{where} changed before the Exercises"
        meta = mine.metadata.get("nbgrader")
        if meta is None:
            assert "nbgrader" not in theirs.metadata, where
            continue
        kept = theirs.metadata["nbgrader"]
        for key in ("grade_id", "grade", "solution", "locked", "schema_version", "points"):
            assert kept.get(key) == meta.get(key), f"{where}: nbgrader {key!r} lost"
        assert kept["checksum"], f"{where}: no checksum"
        if meta["solution"]:
            assert "# YOUR CODE HERE\n" in theirs.source, where
            assert "raise NotImplementedError()" in theirs.source, where
        if meta["grade"] or meta["locked"]:
            assert theirs.metadata["deletable"] is False, f"{where}: not locked"


def test_student_version_of_fixture():
    instructor = _fixture()
    student = grading.student_version(instructor)
    assert instructor == _fixture(), "the instructor notebook was modified"
    _assert_student_version(instructor, student, FIXTURE.name)
    assert student.cells[TESTS_1].source == (
        "a = np.array([[0, 1], [1, 1]])\n"
        "assert pixel_accuracy(a, a) == 1.0, 'identical maps must score 1'\n"
        "assert pixel_accuracy(a, 1 - a) == 0.0, 'complementary maps must score 0'")


def test_student_versions_refuse_malformed_notebooks(tmp_path):
    nb = _fixture()
    _no_hidden_end(nb)
    path = _write(nb, tmp_path)
    with pytest.raises(ValueError, match=r"cell 7 \('90-ex1-tests'\): '### BEGIN HIDDEN TESTS'"):
        grading.write_student_versions([path], tmp_path / "student")
    assert not (tmp_path / "student").exists()


@pytest.mark.parametrize("folder", ["notebooks", "tests/fixtures"])
def test_make_student_output(folder, tmp_path):
    """Exactly what ``make student`` runs, on the real notebooks and on the fixture."""
    sources = grading.notebook_paths(ROOT / folder)
    if not sources:
        pytest.skip(f"{folder}/ has no NN_*.ipynb notebook yet")
    out = tmp_path / "student"
    done = subprocess.run([sys.executable, "-m", "course_lib.grading", "student", "--out",
                           str(out), "--folder", folder], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in sources]
    for path in sources:
        student = nbformat.read(out / path.name, as_version=4)
        nbformat.validate(student)
        _assert_student_version(grading.read_notebook(path), student, path.name)


# --------------------------------------------------------------------------- tests bite


def test_fixture_tests_bite():
    report = grading.prove_tests_bite(FIXTURE)
    assert report.ok, report.problems
    main_runs = [run for run in report.instructor if run.probe is None]
    assert [run.role for run in main_runs] == ["setup", "solution", "tests", "solution", "tests"]
    assert all(run.error is None for run in main_runs)
    probes = [(run.probe, run.grade_id, run.error) for run in report.instructor if run.probe]
    assert probes == [
        ("stub", "90-ex1-solution", None),
        ("isolated", "90-ex1-tests", "NotImplementedError: "),
        ("restore", "90-ex1-solution", None),
        ("stub", "90-ex2-solution", None),
        ("isolated", "90-ex2-tests", "NotImplementedError: "),
        ("restore", "90-ex2-solution", None),
    ]
    errors = {run.grade_id: run.error for run in report.student if run.role == "tests"}
    assert errors == {"90-ex1-tests": "NotImplementedError: ",
                      "90-ex2-tests": "NotImplementedError: "}


def test_toothless_tests_are_named(tmp_path):
    nb = _fixture()
    # exercise 1: tests that never call the function pass on the stub
    nb.cells[TESTS_1].source = ("assert 1 + 1 == 2\n### BEGIN HIDDEN TESTS\nassert True\n"
                                "### END HIDDEN TESTS")
    # exercise 2: tests that call only exercise 1's function fail in the student version,
    # but pass for a learner who solved exercise 1 and not exercise 2
    nb.cells[TESTS_2].source = "assert pixel_accuracy([1, 2], [1, 3]) == 0.5"
    path = _write(nb, tmp_path)
    problems = grading.prove_tests_bite(path).problems
    assert problems == [
        f"{path}: exercise '90-ex1-tests' (cell 7): its tests PASS when only this exercise is "
        "left unsolved; they must call this exercise's function",
        f"{path}: exercise '90-ex2-tests' (cell 10): its tests PASS when only this exercise is "
        "left unsolved; they must call this exercise's function",
        f"{path}: exercise '90-ex1-tests' (cell 7): its tests PASS on the student stub; they "
        "must fail until the exercise is solved (call the exercise function and check what it "
        "returns)",
    ]


def test_solution_using_the_narrative_is_named(tmp_path):
    nb = _fixture()
    # the solution uses a name from outside the Exercises section
    nb.cells[SOLUTION_2].source = nb.cells[SOLUTION_2].source.replace(
        "minlength=num_classes", "minlength=len(narrative_only)")
    path = _write(nb, tmp_path)
    assert grading.prove_tests_bite(path).problems == [
        f"{path}: instructor version: exercise cell '90-ex2-tests' (cell 10) raised NameError: "
        "name 'narrative_only' is not defined; the solution must pass its tests, running on the "
        "setup cell alone"]


@pytest.mark.parametrize("path", _params(GRADED, "notebook with graded exercises"))
def test_notebook_tests_bite(path):
    """Every graded test cell passes on the solution and raises on the student stub."""
    report = grading.prove_tests_bite(path)
    assert report.ok, "\n".join(report.problems)
    assert sum(run.role == "tests" for run in report.student) == len(
        grading.graded_cells(grading.read_notebook(path)))


# --------------------------------------------------------------------------- autograding


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """nbgrader autograde of the fixture and every graded notebook, solved and stub, once."""
    return grading.autograde([FIXTURE, *GRADED], root=tmp_path_factory.mktemp("course"))


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(FIXTURE, id="fixture"),
                                  *_params(GRADED, "notebook with graded exercises")])
def test_autograde_full_marks_for_solution_zero_for_stub(path, autograded):
    expected = {grade_id: points
                for _, grade_id, points in grading.graded_cells(grading.read_notebook(path))}
    scores = autograded[path.name]
    assert scores["solved"] == {g: (p, p) for g, p in expected.items()}, scores["solved"]
    assert scores["stub"] == {g: (0, p) for g, p in expected.items()}, scores["stub"]


# --------------------------------------------------------------------------- points


def test_points_table(capsys):
    assert grading.main(["points", str(FIXTURE)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| notebook | graded test cells | points |",
        "|---|---|---:|",
        "| 90_grading_fixture.ipynb | `90-ex1-tests` (2), `90-ex2-tests` (1) | 3 |",
        "| **total** | 2 | **3** |",
    ]


def test_instructor_notebook_not_modified_by_checks():
    before = FIXTURE.read_bytes()
    grading.student_version(grading.read_notebook(FIXTURE))
    grading.exercise_notebook(grading.read_notebook(FIXTURE))
    assert FIXTURE.read_bytes() == before


def test_student_version_matches_nbgrader_generate_assignment(tmp_path, monkeypatch):
    """``make student`` writes what ``nbgrader generate_assignment`` releases."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    source = tmp_path / "source" / "90_grading_fixture"
    source.mkdir(parents=True)
    nbformat.write(_fixture(), source / FIXTURE.name)
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    # nbgrader's gradebook runs `alembic`: it must be on PATH (it is in an activated venv)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = NbGraderAPI(config=config).generate_assignment("90_grading_fixture")
    assert result["success"], result["log"]
    released = nbformat.read(tmp_path / "release" / "90_grading_fixture" / FIXTURE.name, 4)
    ours = grading.student_version(_fixture())
    assert released.metadata == ours.metadata
    assert [(c.source, c.metadata) for c in released.cells] == [
        (c.source, c.metadata) for c in ours.cells]


def test_run_cells_goes_on_after_errors_and_reports_a_dead_kernel():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in
               ("x = 1", "1 / 0", "x", "import os; os._exit(1)", "x")],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}})
    runs = grading.run_cells(nb, timeout=30)
    assert [(run.error, run.fatal) for run in runs] == [
        (None, False), ("ZeroDivisionError: division by zero", False), (None, False),
        ("DeadKernelError: Kernel died", True), ("kernel died in an earlier cell", True)]
    assert [run.role for run in runs] == ["setup", "other", "other", "other", "other"]


def test_instructor_guide_points_table_is_current():
    guide = (ROOT / "notebooks" / "README.md").read_text()
    if not NOTEBOOKS:
        pytest.skip("notebooks/ has no notebook yet")
    table = grading.points_table(NOTEBOOKS)
    assert table in guide, ("notebooks/README.md's table of points is out of date: paste the "
                            "output of `python -m course_lib.grading points` into it")


# --------------------------------------------------------------------------- library shortcuts

#: For each exercise that asks the learner to write something ``course_lib`` (or a library the
#: task rules out) already does: a "shortcut" solution that just calls it. The exercise's
#: graded tests switch that function off (``unittest.mock.patch``) while the learner's function
#: runs, so each shortcut must FAIL its tests. Keys are the test cells' grade_ids; a shortcut
#: (or each of a list of them) replaces the solution cell ``NN-exK-solution``.
SHORTCUTS = {
    "00-ex1-tests": """
def colorize(label, palette):
    return cl.viz.colorize(label, palette)
""",
    "02-ex2-tests": """
def weighted_cross_entropy(logits, target, weight, ignore_index=255):
    N, C, H, W = logits.shape
    if tuple(target.shape) != (N, H, W) or tuple(weight.shape) != (C,):
        raise ValueError("bad shape")
    if not (target != ignore_index).any():
        return logits.sum() * 0
    return F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index)
""",
    "03-ex1-tests": """
def dice_from_confusion(cm):
    iou = cl.metrics.scores(cm).iou
    return 2 * iou / (1 + iou)
""",
    "03-ex2-tests": ["""
def mean_class_accuracy(pred, target, num_classes, ignore_index=255):
    return float(cl.metrics.mean_class_accuracy(pred, target, num_classes, ignore_index=ignore_index))
""", """
def mean_class_accuracy(pred, target, num_classes, ignore_index=255):
    import warnings
    valid = target != ignore_index
    if not valid.any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "y_pred contains classes not in y_true": skipped, as asked
        return float(skm.balanced_accuracy_score(target[valid].numpy(), pred[valid].numpy()))
"""],
    "04-ex1-tests": """
def potts_energy(labels, unary, w):
    H, W = labels.shape
    return float(cl.crf.grid.energy(labels, unary, cl.crf.grid.potts_pairwise((H, W), w)))
""",
    "04-ex2-tests": """
def superpixel_vote(probs, segments):
    return cl.superpixels.paint(cl.superpixels.pool(probs, segments).argmax(0), segments)
""",
    "05-ex1-tests": """
def bilateral_features(image, sxy, srgb):
    H, W, _ = image.shape
    return cl.crf.dense_crf_features(H, W, sxy=sxy, image=torch.as_tensor(np.asarray(image)), srgb=srgb)
""",
    "05-ex2-tests": """
def kl_divergence(unary, Q, sxy, weight):
    C, H, W = unary.shape
    crf = cl.crf.DenseCRF(unary, np.zeros((H, W, 3), np.uint8), sxy_gaussian=sxy, compat_gaussian=weight,
                          compat_bilateral=0, method="exact", dtype=torch.float64)
    return crf.kl_divergence(Q)
""",
    "10-ex1-tests": ["""
def roi_align_grid(features, rois, output_size, spatial_scale):
    return cl.roi.roi_align(features, rois, output_size, spatial_scale, 2, True)
""", """
def roi_align_grid(features, rois, output_size, spatial_scale):
    return tvo.roi_align(features, rois, output_size, spatial_scale, 2, True)
"""],
    "10-ex2-tests": """
def roi_pool_bin_error(box, output_size, spatial_scale):
    b = torch.tensor([float(v) for v in box], dtype=torch.float64)
    bins = cl.roi.roi_pool_bins(b, output_size, spatial_scale).double() / spatial_scale
    q = torch.arange(output_size, dtype=torch.float64)
    worst = 0.0
    for k, edges in ((0, bins[0, :][:, [0, 2]]), (1, bins[:, 0][:, [1, 3]])):
        lo, hi = b[k], b[k + 2]
        exact = torch.stack([lo + q * (hi - lo) / output_size, lo + (q + 1) * (hi - lo) / output_size], 1)
        worst = max(worst, float((edges - exact).abs().max()))
    return worst
""",
    "09-ex1-tests": ["""
def pixel_hypercolumn(features, layers, y, x, strides):
    first = features[layers[0]]
    size = (first.shape[-2] * strides[layers[0]], first.shape[-1] * strides[layers[0]])
    return cl.models.hypercolumn_features(features, layers, size, strides=strides)[0, :, y, x]
""", """
def pixel_hypercolumn(features, layers, y, x, strides):
    parts = []
    for name in layers:
        f, s = features[name][:1], strides[name]
        up = F.interpolate(f, scale_factor=s, mode="bilinear", align_corners=False)
        parts.append(up[0, :, min(y, up.shape[-2] - 1), min(x, up.shape[-1] - 1)])
    return torch.cat(parts)
"""],
    "09-ex2-tests": """
def grid_interpolation_weights(size, grid):
    return cl.models.grid_weights(size, grid, dtype=torch.float64)
""",
    "09-ex3-tests": ["""
def classify_then_upsample(features, weights, bias, size, strides):
    names = list(weights)
    hc = cl.models.hypercolumn_features(features, names, size, strides=strides)
    w = torch.cat([weights[n] for n in names], dim=1)
    return F.conv2d(hc, w[:, :, None, None], bias)
""", """
def classify_then_upsample(features, weights, bias, size, strides):
    hc = torch.cat([cl.models.upsample_to(features[n], size, strides[n]) for n in weights], dim=1)
    w = torch.cat([weights[n] for n in weights], dim=1)
    return F.conv2d(hc, w[:, :, None, None], bias)
"""],
}


def _shortcut_list():
    """``(grade_id, source)`` for every shortcut, in table order."""
    return [(gid, src) for gid, sources in SHORTCUTS.items()
            for src in ([sources] if isinstance(sources, str) else sources)]


def _shortcut_runs(path, shortcuts):
    """Run the exercises once solved, then each shortcut followed by its exercise's tests.

    ``shortcuts`` is a list of ``(grade_id, source)``. Returns the runs of the solved section
    and, per shortcut, ``(grade_id, run of the shortcut cell, run of the test cell)``; the real
    solution is restored after each probe.
    """
    nb = grading.read_notebook(path)
    small = grading.exercise_notebook(nb)
    by_id = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in small.cells}
    main = sum(cell.cell_type == "code" for cell in small.cells)
    for grade_id, shortcut in shortcuts:
        solution = by_id[grade_id.replace("-tests", "-solution")]
        for source in (shortcut.strip(), by_id[grade_id].source, solution.source):
            small.cells.append(nbformat.v4.new_code_cell(source))
    runs = grading.run_cells(small, cwd=path.parent, timeout=120)
    probes = [(gid, *runs[main + 3 * k: main + 3 * k + 2]) for k, (gid, _) in enumerate(shortcuts)]
    return runs[:main], probes


def _shortcut_params():
    by_notebook = {}
    for grade_id, source in _shortcut_list():
        by_notebook.setdefault(grade_id[:2], []).append((grade_id, source))
    paths = {p.name[:2]: p for p in GRADED}
    return [pytest.param(paths.get(nn), shortcuts, id=f"shortcuts-{nn}")
            for nn, shortcuts in by_notebook.items()]


@pytest.mark.parametrize("path, shortcuts", _shortcut_params())
def test_library_shortcuts_fail_the_graded_tests(path, shortcuts):
    """A solution that calls the library function the exercise reimplements scores zero."""
    assert path is not None, f"no graded notebook for {[gid for gid, _ in shortcuts]}"
    solved, probes = _shortcut_runs(path, shortcuts)
    assert [run.error for run in solved if run.error] == [], f"{path.name}: solved section fails"
    for grade_id, shortcut, tests in probes:
        assert shortcut.error is None, f"{grade_id}: the shortcut itself raised {shortcut.error}"
        assert tests.error is not None, (
            f"{path.name}: {grade_id} PASSES on a solution that calls the library; patch the "
            "library function to raise while the learner's function runs")
        assert not tests.error.startswith(("NameError", "NotImplementedError")), (
            f"{grade_id}: the tests failed for the wrong reason: {tests.error}")


def test_every_shortcut_names_an_existing_exercise():
    graded = {gid for p in GRADED for _, gid, _ in grading.graded_cells(grading.read_notebook(p))}
    assert set(SHORTCUTS) <= graded, set(SHORTCUTS) - graded
