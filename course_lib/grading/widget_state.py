"""Student versions without the instructor's saved widget state: one route, one result.

A notebook saved in JupyterLab keeps the state of its ipywidgets (``metadata.widgets``): the
instructor's slider positions and the figures the explorers drew. nbgrader's
``generate_assignment`` keeps it, so the ``release/`` copy would show learners stale outputs
of cells they have not run, while ``make student`` drops it. :class:`DropWidgetState` is the
one step both routes use: :func:`~course_lib.grading.student_version` runs it, and the course's
nbgrader configuration (``hub/config/nbgrader_config.py``) appends it to
``GenerateAssignment.preprocessors``, so ``release/`` and ``student/`` hold the same notebook.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["DropWidgetState"]


class DropWidgetState(Preprocessor):
    """nbconvert preprocessor: remove the notebook's saved widget state (``metadata.widgets``)."""

    # nbconvert's preprocessors are off unless enabled; nbgrader registers this one as a class
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return nb, resources
