"""The course as a book: a static website of the executed notebooks, without solutions.

``make book`` runs ``python book/make_book.py build``, which

1. turns every executed instructor notebook (``notebooks/NN_topic.ipynb``, found by
   :func:`course_lib.grading.notebook_paths`, so new notebooks appear on their own) into its
   *book version* (:func:`book_version`): nbgrader's preprocessors replace the solutions by
   stubs and remove the hidden tests, as for the student version, but the outputs of the
   narrative cells (figures, printed numbers, widget states) are kept;
2. writes the landing page (:func:`landing_page`: what the course is, the notebook map with
   times, the two commands) and the instructors' page from the sections of ``README.md``;
3. runs Sphinx with MyST-NB (``book/conf.py``) on them, executing nothing, into ``build/book``.

Nothing touches the network: MathJax comes from the ``sphinx-mathjax-offline`` wheel and
ipywidgets' HTML manager (which renders the saved widget states) from the npm tarball that
``python book/make_book.py vendor`` (``make book-deps``, part of installing) unpacks into
``build/vendor/``. Without that bundle the book still builds; each widget is then replaced by
a note saying that it is live in JupyterLab.

Usage (from the repository root)::

    python book/make_book.py vendor                 # once: ipywidgets' HTML manager (npm)
    python book/make_book.py build [--out build/book]
    python -m http.server -d build/book             # or open build/book/index.html
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
OUT = ROOT / "build" / "book"
SOURCES = ROOT / "build" / "book-src"  # the generated Sphinx sources (kept: builds are incremental)

# ipywidgets' standalone renderer (the same one nbconvert and MyST-NB use from a CDN), pinned by
# its npm integrity. 1.x is the manager for ipywidgets 8 (widget state format 2).
HTML_MANAGER = "@jupyter-widgets/html-manager"
HTML_MANAGER_VERSION = "1.0.15"
HTML_MANAGER_INTEGRITY = (
    "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="
)
WIDGET_JS = ROOT / "build" / "vendor" / f"html-manager-{HTML_MANAGER_VERSION}"
# What the page needs from the package: the bundle, its fonts (Font Awesome, located next to
# the script at run time) and the licence texts.
_WIDGET_FILES = re.compile(r"^package/(dist/(embed\.js|embed\.js\.LICENSE\.txt|[0-9a-f]{20}"
                           r"\.(woff2?|ttf|eot|svg))|LICENSE.*|package\.json)$")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")
_NOTE_STATIC_WIDGET = ("*Interactive explorer: it is live when you run this notebook in "
                       "JupyterLab (`make lab`).*")

__all__ = ["book_version", "notebook_title", "notebook_map", "landing_page", "instructors_page",
           "write_sources", "build", "vendor_widget_js", "main"]


# --------------------------------------------------------------------------- notebooks


def book_version(nb, *, live_widgets=True):
    """The book version of an executed instructor notebook: no solutions, narrative outputs kept.

    nbgrader's preprocessors do what they do for the student version
    (:func:`course_lib.grading.student_version`), except clearing every output: solution
    regions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests are
    removed, cells are locked and checksummed. Then the outputs of the Exercises section and
    of every nbgrader cell are cleared (they would show what the solutions compute), and the
    saved widget state keeps only the widgets that a remaining output displays.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Instructor version, executed; it is not modified.
    live_widgets : bool
        False replaces each widget by a short note (for a book built without ipywidgets'
        HTML manager), so that nothing is left blank.

    Returns
    -------
    nbformat.NotebookNode
    """
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    from course_lib.grading import exercise_section

    nb = copy.deepcopy(nb)
    try:
        _, start, stop = exercise_section(nb)
    except ValueError:  # no exercises yet (a notebook in progress): nothing to hide
        start = stop = len(nb.cells)
    resources = {}
    chain = [LockCells, ClearSolutions, CheckCellMetadata, ComputeChecksums,
             ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
    for preprocessor in chain:
        nb, resources = preprocessor().preprocess(nb, resources)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (start <= index < stop
                                         or cell.metadata.get("nbgrader")):
            cell.outputs = []
            cell.execution_count = None
    _keep_displayed_widgets(nb, live=live_widgets)
    return nb


def _keep_displayed_widgets(nb, *, live):
    """Prune ``metadata.widgets`` to the models the outputs display (and what they refer to)."""
    state = (nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}) or {}).get("state", {})
    shown = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            if live and view.get("model_id") in state:
                shown.append(view["model_id"])
                continue
            # No renderer, or a view whose state was not saved: its text when that says
            # something (a tqdm bar's "100%|###| 200/200"), else a note on what it is.
            plain = output.data.get("text/plain", "")
            if plain and not re.match(r"^\s*\w+\((children|value|layout|description)=", plain):
                output.data = {"text/plain": plain}
            else:
                output.data = {"text/markdown": _NOTE_STATIC_WIDGET}
    keep, todo = set(), list(shown)
    while todo:
        model = todo.pop()
        if model in keep or model not in state:
            continue
        keep.add(model)
        todo += _MODEL_REF.findall(json.dumps(state[model]))
    if keep:
        nb.metadata.widgets[WIDGET_STATE]["state"] = {k: v for k, v in state.items()
                                                      if k in keep}
    else:
        nb.metadata.pop("widgets", None)


def notebook_title(nb, fallback):
    """The text of the notebook's first ``# heading`` (``00 · Welcome: ...``)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+?)\s*$", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
    return fallback


# --------------------------------------------------------------------------- README -> pages


def _sections(markdown):
    """``{heading: body}`` of the ``## `` sections of a Markdown text (fenced code respected)."""
    sections, heading, lines, fenced = {}, "", [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections[heading] = "\n".join(lines).strip()
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    sections[heading] = "\n".join(lines).strip()
    return sections


def _find(sections, *words):
    """The first section whose heading contains one of ``words`` (case-insensitive)."""
    for heading, body in sections.items():
        if any(word in heading.lower() for word in words):
            return heading, body
    return None, ""


def _offline_links(markdown):
    """Repository-relative links (files that are not in the book) become plain text."""
    def replace(match):
        text, target = match.group(1), match.group(2)
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            return match.group(0)
        return f"{text} (in the repository)" if text.strip("`") == target else text
    markdown = re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", markdown)  # README pictures stay there
    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", replace, markdown)


def _table_rows(markdown):
    """Rows (lists of stripped cells) of the first Markdown table in ``markdown``."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def _number_range(text):
    """``"06–10"`` -> range(6, 11); ``"03"`` -> range(3, 4); anything else -> None."""
    match = re.fullmatch(r"(\d+)\s*(?:[–-]\s*(\d+))?", text)
    if not match:
        return None
    first = int(match.group(1))
    return range(first, int(match.group(2) or first) + 1)


def _topic(title):
    """``"03 · Metrics: how good ...?"`` -> ``"Metrics: how good ...?"``."""
    return re.sub(r"^\d{2}\s*[·.:-]\s*", "", title)


def notebook_map(readme, notebooks):
    """The Markdown table of the notebooks, with links: the README's table, kept in step.

    Rows of the README's notebook table that name an existing notebook link to its page; a
    notebook without a row gets one made from its title; a row announcing a range of numbers
    ("06–10 next wave") is dropped as soon as one of those notebooks exists.

    Parameters
    ----------
    readme : str
        Text of ``README.md``.
    notebooks : list of (stem, title)
        The notebooks of the book, in order.
    """
    _, body = _find(_sections(readme), "notebooks")
    rows = _table_rows(body)
    header = rows[0] if rows else ["#", "notebook", "you learn", "time"]
    known = {stem: title for stem, title in notebooks}
    numbers = {int(stem[:2]) for stem in known}
    out, covered = [], set()
    for row in rows[1:]:
        row = row + [""] * (len(header) - len(row))
        stem = row[1].strip("`* ") if len(row) > 1 else ""
        if stem in known:
            covered.add(stem)
            row[1] = f"[{_topic(known[stem])}]({stem}.ipynb)"
        else:
            span = _number_range(row[0])
            if span is not None and numbers & set(span):
                continue  # an announcement now (partly) replaced by real notebooks
        out.append((row[0], row))
    for stem, title in notebooks:
        if stem not in covered:
            topic = _topic(title)
            row = [stem[:2], f"[{topic}]({stem}.ipynb)", ""] + [""] * (len(header) - 3)
            out.append((stem[:2], row))
    out.sort(key=lambda item: (_number_range(item[0]) or range(999, 1000))[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for _, row in out]
    return "\n".join(lines)


def landing_page(readme, notebooks):
    """MyST Markdown of the landing page, from the README's sections.

    What the course is (the README's first section after the commands), the notebook map with
    times, how to run it (the README's two commands), and for instructors a link to the
    classroom page.
    """
    sections = _sections(readme)
    intro = sections.get("", "")
    title = re.search(r"^#\s+(.+)$", intro, re.MULTILINE)
    title = title.group(1).strip() if title else "The course"
    commands = re.search(r"```bash\n.*?```", intro, re.DOTALL)
    after_commands = intro[commands.end():].strip() if commands else ""
    _, what = _find(sections, "what this is")
    profiles_heading, _ = _find(sections, "profiles")
    toc = "\n".join(stem for stem, _ in notebooks)
    parts = [
        f"# {title}",
        "",
        _offline_links(what),
        "",
        "## The notebooks",
        "",
        "Each page is a notebook of the course as a learner gets it, with the outputs of a run "
        "on a laptop CPU (the quick profile) and its graded exercises left to solve. The "
        "download button at the top of a page gives the notebook itself.",
        "",
        notebook_map(readme, notebooks),
        "",
        "## Run it yourself",
        "",
        "In a copy of the course's repository:",
        "",
        commands.group(0) if commands else "",
        "",
        _offline_links(after_commands),
        "",
        ("The *quick* profile (default) runs every notebook on a CPU in minutes; "
         "`COURSE_PROFILE=full make lab` uses bigger images, longer training and the real "
         "datasets when you have them." if profiles_heading else ""),
        "",
        "## For instructors",
        "",
        "The pages show the student versions: solutions are replaced by stubs and hidden tests "
        "are left out. How to hand the exercises out and grade them is on the "
        "[instructors' page](instructors.md).",
        "",
        "```{toctree}",
        ":hidden:",
        ":caption: Notebooks",
        "",
        toc,
        "```",
        "",
        "```{toctree}",
        ":hidden:",
        ":caption: Teaching",
        "",
        "instructors",
        "```",
        "",
    ]
    return "\n".join(parts)


def instructors_page(readme, paths=()):
    """MyST Markdown of the classroom page: the README's sections for instructors.

    With the instructor notebooks ``paths``, also the points of their graded exercises
    (:func:`course_lib.grading.points_table`).
    """
    sections = _sections(readme)
    parts = ["# For instructors: the classroom", "",
             "This book shows the *student* versions of the notebooks: each solution is replaced "
             "by a stub and the hidden tests are left out, while the figures and numbers of the "
             "narrative come from the executed instructor versions. The instructor versions, "
             "with solutions, are the notebooks in the repository's `notebooks/` folder.", ""]
    found = False
    for heading, body in sections.items():
        if re.search(r"instructor|classroom|teach|nbgrader|\bhub\b", heading, re.IGNORECASE):
            found = True
            if heading.lower() == "for instructors":  # the page's own title already says it
                heading = "Handing out and grading the exercises"
            parts += [f"## {heading}", "", _offline_links(body), ""]
    if not found:
        parts += ["The repository's README explains how to hand out and grade the exercises.", ""]
    if paths:
        from course_lib.grading import points_table

        parts += ["## Points per notebook", "",
                  "The graded test cells of each notebook (nbgrader `grade_id` and points):", "",
                  points_table(paths), ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- sources and build


def _write_if_changed(path, text_or_bytes):
    """Write only when the content differs, so that Sphinx rebuilds only what changed."""
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def write_sources(src=SOURCES, *, notebooks_dir=NOTEBOOKS, readme=README, live_widgets=True):
    """Write the Sphinx sources of the book into ``src``; return the notebook stems.

    Each notebook's book version, the assets named after it (``03_figure.png``), the landing
    page and the instructors' page. Files of notebooks that no longer exist are removed.
    """
    from course_lib.grading import notebook_paths, read_notebook

    src = Path(src)
    src.mkdir(parents=True, exist_ok=True)
    wanted, notebooks = {"index.md", "instructors.md"}, []
    for path in notebook_paths(notebooks_dir):
        try:
            nb = book_version(read_notebook(path), live_widgets=live_widgets)
        except Exception as exc:  # nbgrader's checks: name the notebook
            raise RuntimeError(f"{path}: cannot make its book version: "
                               f"{type(exc).__name__}: {exc}") from exc
        notebooks.append((path.stem, notebook_title(nb, path.stem)))
        _write_if_changed(src / path.name, nbformat.writes(nb) + "\n")
        wanted.add(path.name)
        for asset in sorted(path.parent.glob(path.name[:3] + "*")):
            if asset.is_file() and asset.suffix not in (".ipynb", ".md"):
                _write_if_changed(src / asset.name, asset.read_bytes())
                wanted.add(asset.name)
    text = Path(readme).read_text()
    _write_if_changed(src / "index.md", landing_page(text, notebooks))
    _write_if_changed(src / "instructors.md",
                      instructors_page(text, notebook_paths(notebooks_dir)))
    for stale in src.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    return [stem for stem, _ in notebooks]


def build(out=OUT, *, src=SOURCES, notebooks_dir=NOTEBOOKS, quiet=True):
    """Build the book into ``out`` (incrementally); return the path of its landing page.

    Raises ``RuntimeError`` with Sphinx's messages when Sphinx reports an error or a warning
    (a broken reference, a notebook it cannot read): the book must build cleanly.
    """
    from sphinx.cmd.build import build_main

    live = (WIDGET_JS / "dist" / "embed.js").is_file()
    if not live:
        print(f"make_book: no ipywidgets HTML manager in {WIDGET_JS} (run `make book-deps`, "
              "which needs npm): the widgets are shown as notes", file=sys.stderr)
    stems = write_sources(src, notebooks_dir=notebooks_dir, live_widgets=live)
    out = Path(out)
    log = Path(tempfile.mkstemp(prefix="book-warnings-", suffix=".txt")[1])
    args = ["-b", "html", "-c", str(BOOK), "-w", str(log), "--keep-going", "-W",
            *(["-t", "live_widgets"] if live else []), "-d", str(Path(src).parent / "book-doctrees"), str(src), str(out)]
    if quiet:
        args.insert(0, "-q")
    with warnings.catch_warnings():  # Sphinx's own deprecation notices to extensions
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(args)
    messages = log.read_text().strip()
    log.unlink()
    if status != 0:
        raise RuntimeError(f"sphinx-build failed (exit {status}):\n{messages}")
    # Sphinx never deletes a page: drop those of notebooks that are gone
    pages = {*stems, "index", "instructors", "genindex", "search"}
    for page in out.glob("*.html"):
        if page.stem not in pages:
            page.unlink()
    for source in (out / "_sources").glob("*"):
        if source.stem.split(".")[0] not in pages:
            source.unlink()
    return out / "index.html"


def vendor_widget_js(target=WIDGET_JS):
    """Unpack ipywidgets' HTML manager from its npm tarball into ``target`` (an install step).

    Uses ``npm pack`` (the package alone, not its 130 dependencies: the bundle is
    self-contained) and checks the tarball against :data:`HTML_MANAGER_INTEGRITY`.
    Does nothing when ``target`` already holds it.
    """
    target = Path(target)
    if (target / "dist" / "embed.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; the book will show widgets as notes "
                           "(apt-get install npm, then `make book-deps`)")
    with tempfile.TemporaryDirectory(prefix="html-manager-") as tmp:
        subprocess.run([npm, "pack", f"{HTML_MANAGER}@{HTML_MANAGER_VERSION}", "--silent",
                        "--pack-destination", tmp], check=True, cwd=tmp,
                       stdout=subprocess.DEVNULL)
        (tarball,) = Path(tmp).glob("*.tgz")
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != HTML_MANAGER_INTEGRITY:
            raise RuntimeError(f"{tarball.name}: integrity {digest} differs from the pinned "
                               f"{HTML_MANAGER_INTEGRITY}")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and _WIDGET_FILES.match(m.name)]
            tar.extractall(staging, members=members, filter="data")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / "package"), target)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub_build = sub.add_parser("build", help="build the book (offline)")
    sub_build.add_argument("--out", type=Path, default=OUT)
    sub_build.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    sub.add_parser("vendor", help="unpack ipywidgets' HTML manager from npm (install step)")
    args = parser.parse_args(argv)
    if args.command == "vendor":
        try:
            print(f"ipywidgets HTML manager in {vendor_widget_js()}")
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"make_book vendor: {exc}", file=sys.stderr)
            return 1
        return 0
    tic = time.perf_counter()
    try:
        index = build(args.out, quiet=not args.verbose)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"book built in {time.perf_counter() - tic:.0f} s: open {index}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
