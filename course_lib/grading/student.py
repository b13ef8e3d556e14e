"""Student versions: solutions replaced by stubs, hidden tests removed (what ``make student`` writes)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from .checks import check_notebooks, read_notebook
from .widget_state import DropWidgetState

# --------------------------------------------------------------------------- student version


def student_version(nb):
    """The student version of an instructor notebook, made by nbgrader's preprocessors.

    The same chain as ``nbgrader generate_assignment`` minus its database steps: lock
    cells, replace solution regions by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
    clear outputs, check metadata, checksum, remove hidden tests, checksum again. It also
    drops the saved widget state (``metadata.widgets``, the instructor's ipywidgets outputs,
    figures included) with :class:`~.widget_state.DropWidgetState`, the step the course's
    nbgrader configuration adds to ``nbgrader generate_assignment``.

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
             ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata,
             DropWidgetState]
    for preprocessor in chain:
        nb, resources = preprocessor().preprocess(nb, resources)
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
