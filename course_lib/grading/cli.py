"""The points table and the command line, ``python -m course_lib.grading``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .autograde import autograde
from .bite import prove_tests_bite
from .checks import check_notebooks, graded_cells, notebook_paths, read_notebook
from .student import write_student_versions
from .tampering import tampering_report

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
                                     description=sys.modules[__package__].__doc__.split("\n\n")[0])
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
    sub = commands.add_parser("tampering", help="name the submissions whose locked or graded "
                              "cells were changed or deleted (an nbgrader course directory)")
    sub.add_argument("assignment", help="the assignment, e.g. 03_metrics")
    sub.add_argument("--course", default=".", help="the nbgrader course directory (default: .)")
    args = parser.parse_args(argv)
    if args.command == "tampering":
        return _tampering(args)
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


def _tampering(args):
    try:
        report = tampering_report(args.course, args.assignment)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    for student, problems in report.items():
        for msg in problems:
            print(f"{student}: {msg}")
    if not report:
        print(f"{args.assignment}: no submission changed or deleted a locked or graded cell")
    return 1 if report else 0
