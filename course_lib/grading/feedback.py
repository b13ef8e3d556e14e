"""Feedback without the hidden tests: what ``nbgrader generate_feedback`` sends back to learners.

nbgrader's autograder puts the hidden tests back into each submission before running it, and
its feedback step renders that notebook as it is: every hidden assert, and the traceback of the
one that failed, goes back to the learner, so the hidden tests are spent after one term.
:class:`HideHiddenTests` is an nbconvert preprocessor for nbgrader's feedback step (see
``hub/config/nbgrader_config.py``)::

    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]

In every cell with a ``### BEGIN HIDDEN TESTS`` region it replaces the region by one comment
line, drops the cell's printed outputs (a hidden test may print), and keeps an error only when
it was raised by a visible line: then the learner sees the visible assert that failed, with
the hidden lines cut out of the traceback's context. An error raised by a hidden line becomes
``HiddenTestFailed``, with no code, message or values. The scores are unchanged.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .checks import HIDDEN_TEST_MARKERS

__all__ = ["HIDDEN_NOTE", "HIDDEN_ERROR", "HideHiddenTests", "hide_hidden_tests"]

#: The line that replaces a hidden-test region in the feedback.
HIDDEN_NOTE = "# (hidden tests: not shown)"
#: The error name shown when a hidden test failed.
HIDDEN_ERROR = "HiddenTestFailed"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython names the cell that raised as "Cell In[7], line 5" (older: "<ipython-input-7-...>")
_CELL_LINE = re.compile(r"(?:Cell In\[\d*\]|<ipython-input-[^>]*>), line (\d+)")


def _split_hidden(source):
    """``(shown source, hidden line numbers (1-based), hidden code lines)`` of a cell."""
    begin, end = HIDDEN_TEST_MARKERS
    shown, hidden_numbers, hidden_code = [], set(), []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            inside = True
            hidden_numbers.add(number)
            shown.append(line[: line.index("#")] + HIDDEN_NOTE if "#" in line else HIDDEN_NOTE)
            continue
        if inside:
            hidden_numbers.add(number)
            if end in line:
                inside = False
            elif line.strip():
                hidden_code.append(line.strip())
            continue
        shown.append(line)
    return "\n".join(shown), hidden_numbers, hidden_code


def _failing_line(traceback):
    """The line number, in the cell that raised, of the statement that raised (or None)."""
    for entry in traceback:
        match = _CELL_LINE.search(_ANSI.sub("", entry))
        if match:
            return int(match.group(1))
    return None


def _hidden_failure():
    return {"output_type": "error", "ename": HIDDEN_ERROR, "evalue": "",
            "traceback": [f"{HIDDEN_ERROR}: a hidden test of this cell failed; "
                          "its code and message are not shown"]}


def _scrub(output, hidden_numbers, hidden_code):
    """An error output safe to show, or a generic one when a hidden line raised."""
    line = _failing_line(output.get("traceback", []))
    if line is None or line in hidden_numbers:
        return _hidden_failure()
    traceback = []
    for entry in output.get("traceback", []):
        kept = [text for text in _ANSI.sub("", entry).split("\n")
                if not any(code in text for code in (*hidden_code, *HIDDEN_TEST_MARKERS))]
        traceback.append("\n".join(kept))
    scrubbed = dict(output)
    scrubbed["traceback"] = traceback
    return scrubbed


def hide_hidden_tests(cell):
    """Remove a cell's hidden tests and what its outputs reveal of them, in place.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell; cells without a hidden-test region are left unchanged.

    Returns
    -------
    bool
        Whether the cell had a hidden-test region.
    """
    if HIDDEN_TEST_MARKERS[0] not in cell.source:
        return False
    cell.source, hidden_numbers, hidden_code = _split_hidden(cell.source)
    if cell.cell_type == "code":
        from nbformat import from_dict

        cell.outputs = [from_dict(_scrub(out, hidden_numbers, hidden_code))
                        for out in cell.outputs if out.output_type == "error"]
    return True


class HideHiddenTests(Preprocessor):
    """nbconvert preprocessor: the feedback shows no hidden test (see the module docstring)."""

    # nbconvert's preprocessors are off unless enabled; nbgrader registers this one as a class
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if hide_hidden_tests(cell):
            self.log.debug("hid the hidden tests of cell %d", index)
        return cell, resources
