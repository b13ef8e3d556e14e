"""The course book (``make book``, ``book/make_book.py``): student versions only, offline, complete.

The site is built (incrementally) into ``build/book`` once for this module. Its pages are then
searched for the nbgrader markers and for the text of every solution and hidden test of the
instructor notebooks; every notebook must have a page and a downloadable source; nothing may
be loaded from outside the site. ``tests/test_book_browser.py`` opens the pages in Chromium.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.grading import notebook_paths, read_notebook, student_version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "book"))
import make_book  # noqa: E402

NOTEBOOKS = notebook_paths(REPO / "notebooks")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
TEXT_SUFFIXES = {".html", ".js", ".css", ".txt", ".ipynb", ".json", ".md", ".svg"}


@pytest.fixture(scope="module")
def site():
    """The built book (``make book`` builds the same folder; this is a quick no-op then)."""
    return make_book.build(make_book.OUT).parent


# --------------------------------------------------------------------------- helpers


class _Text(HTMLParser):
    """All text of a page, script contents (widget states) included, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(path):
    """The text of a page as a browser has it: highlighted code reads as its source lines."""
    parser = _Text()
    parser.feed(Path(path).read_text(errors="replace"))
    return "".join(parser.parts)


def notebook_text(path):
    """Sources and textual outputs of a notebook file."""
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [v for k, v in output.get("data", {}).items()
                      if isinstance(v, str) and not k.startswith("image/")]
    parts.append(json.dumps(nb.metadata))
    return "\n".join(parts)


def squash(text):
    return re.sub(r"\s+", " ", text).strip()


def leaks(secrets, text):
    """The secret lines that are a line of ``text``, and the secret blocks found in it."""
    lines = {squash(line) for line in text.splitlines()}
    found = [f"{kind} line {line!r}" for kind, line, _ in secrets if squash(line) in lines]
    blocks = {(kind, block) for kind, _, block in secrets}
    return found + [f"{kind} block {block[:80]!r}..." for kind, block in blocks
                    if block.count(" ") > 3 and squash(block) in squash(text)]


def _regions(source, begin, end):
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


def secret_lines(nb):
    """Lines of the solutions and hidden tests that the student version does not show.

    Found straight from the instructor notebook's markers (independently of make_book), minus
    lines that also appear in the student version (``return out``) or carry one word only.
    Returns ``(kind, line, block)`` triples, ``block`` being the whole region of the line.
    """
    def squeeze(line):          # the page folds runs of spaces, so compare folded lines
        return " ".join(line.split())

    visible = {squeeze(line) for cell in student_version(nb).cells
               for line in cell.source.split("\n")}
    found = []
    for cell in nb.cells:
        for kind, (begin, end) in (("solution", MARKERS[:2]), ("hidden test", MARKERS[2:])):
            region = _regions(cell.source, begin, end)
            block = "\n".join(region)
            found += [(kind, line, block) for line in region
                      if squeeze(line) not in visible and len(re.findall(r"\w+", line)) >= 2]
    return found


def _local_refs(html):
    """``src``/``href`` of scripts, stylesheets and images in a page."""
    refs = re.findall(r'<(?:script|img|source|iframe)\b[^>]*\bsrc="([^"]+)"', html)
    refs += re.findall(r'<link\b[^>]*\bhref="([^"]+)"', html)
    return refs


# --------------------------------------------------------------------------- the built site


def test_every_notebook_has_a_page_and_a_source_to_download(site):
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"
    for path in NOTEBOOKS:
        page = site / f"{path.stem}.html"
        assert page.is_file(), f"no page for {path.name} in {site}"
        source = site / "_sources" / path.name
        assert source.is_file(), f"no downloadable notebook {source}"
        assert f"_sources/{path.name}" in page.read_text(), f"{page.name} has no download link"
        nbformat.validate(nbformat.read(source, as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_solution_and_no_hidden_test_in_the_site(site, path):
    secrets = secret_lines(read_notebook(path))
    assert secrets, f"{path.name}: found no solution or hidden-test line to look for"
    found = [f"{leak} in {where}" for where, text in (
        ("the page", page_text(site / f"{path.stem}.html")),
        ("the downloadable notebook", notebook_text(site / "_sources" / path.name)))
        for leak in leaks(secrets, text)]
    assert not found, f"{path.name}: the book shows what learners must not see:\n" + \
        "\n".join(found)


def test_no_nbgrader_marker_anywhere_in_the_site(site):
    found = []
    for file in site.rglob("*"):
        if file.is_file() and file.suffix in TEXT_SUFFIXES:
            text = file.read_text(errors="replace")
            found += [f"{file.relative_to(site)}: {m!r}" for m in MARKERS if m in text]
    assert not found, "nbgrader markers in the book:\n" + "\n".join(found)


def test_narrative_figures_are_kept_and_exercise_outputs_are_not(site):
    for path in NOTEBOOKS:
        html = (site / f"{path.stem}.html").read_text()
        assert re.search(r'<img[^>]+src="_images/', html), (
            f"{path.stem}.html shows no figure: is notebooks/{path.name} executed, with its "
            "outputs saved?")
        book = nbformat.read(site / "_sources" / path.name, as_version=4)
        for cell in book.cells:
            if cell.metadata.get("nbgrader") and cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name}: nbgrader cell kept its outputs"


def test_pages_load_nothing_from_outside_the_site(site):
    for page in sorted(site.glob("*.html")):
        html = page.read_text()
        for ref in _local_refs(html):
            if ref.startswith("#"):
                continue
            assert not re.match(r"^(https?:)?//", ref), f"{page.name} loads {ref} from the web"
            target = (page.parent / ref.split("?")[0].split("#")[0]).resolve()
            assert target.is_file(), f"{page.name} refers to {ref}, which is not in the site"


def test_maths_and_widgets_are_served_from_the_site(site):
    pages = [(site / f"{p.stem}.html").read_text() for p in NOTEBOOKS]
    assert any("_static/mathjax/tex-chtml.js" in html for html in pages)
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    widget_pages = [html for html in pages if make_book.WIDGET_STATE in html]
    if (make_book.WIDGET_JS / "dist" / "embed.js").is_file():
        assert widget_pages, "no page carries a widget state"
        for html in widget_pages:
            assert "html-manager-" in html and "dist/embed.js" in html


def test_landing_page_has_the_map_the_commands_and_the_classroom_link(site):
    html = (site / "index.html").read_text()
    text = page_text(site / "index.html")
    for path in NOTEBOOKS:
        assert f'href="{path.stem}.html"' in html, f"the landing page does not link {path.stem}"
    assert "make lab" in text and "make test" in text
    assert re.search(r"\b\d+ min\b", text), "the notebook map has no times"
    assert 'href="instructors.html"' in html
    teach = page_text(site / "instructors.html")
    assert "Points per notebook" in teach and "make student" in teach


# --------------------------------------------------------------------------- book_version


def _exercise_notebook():
    grader = {"schema_version": 3, "locked": False, "task": False}
    figure = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<F>"})
    widget = new_output("display_data", data={
        make_book.WIDGET_VIEW: {"model_id": "aa", "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(children=(IntSlider(value=0),))"})
    progress = new_output("display_data", data={  # a tqdm bar whose state was not saved
        make_book.WIDGET_VIEW: {"model_id": "zz", "version_major": 2, "version_minor": 0},
        "text/plain": "100%|##########| 5/5 [00:01<00:00]"})
    cells = [
        new_markdown_cell("# 99 · Test notebook"),
        new_code_cell("import math", outputs=[figure]),
        new_code_cell("explorer", outputs=[widget, progress]),
        new_markdown_cell("## Exercises"),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      outputs=[new_output("stream", text="secret\n")],
                      metadata={"nbgrader": {**grader, "grade_id": "ex1", "solution": True,
                                             "grade": False}}),
        new_code_cell("print(f(3))", outputs=[new_output("stream", text="6\n")]),
        new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n"
                      "### END HIDDEN TESTS",
                      metadata={"nbgrader": {**grader, "grade_id": "ex1-tests", "grade": True,
                                             "solution": False, "locked": True, "points": 1}}),
        new_markdown_cell("## Further reading"),
        new_code_cell("math.pi", outputs=[new_output("execute_result", data={
            "text/plain": "3.14"}, execution_count=9)]),
    ]
    state = {"aa": {"state": {"children": ["IPY_MODEL_bb"]}}, "bb": {"state": {}},
             "cc": {"state": {"note": "an explorer nobody displays"}}}
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
        "widgets": {make_book.WIDGET_STATE: {"state": state, "version_major": 2,
                                             "version_minor": 0}}})
    return nb


def test_book_version_keeps_narrative_outputs_and_hides_solutions():
    nb = _exercise_notebook()
    book = make_book.book_version(nb)
    text = json.dumps(book)
    assert "return 2 * x" not in text and "f(5) == 10" not in text
    assert "raise NotImplementedError()" in book.cells[4].source
    assert "assert f(1) == 2" in book.cells[6].source
    assert book.cells[1].outputs[0]["data"]["image/png"] == "iVBORw0KGgo="
    assert all(book.cells[i].outputs == [] for i in (4, 5, 6)), "exercise outputs kept"
    assert book.cells[8].outputs, "outputs after the Exercises section are narrative: kept"
    state = book.metadata.widgets[make_book.WIDGET_STATE]["state"]
    assert set(state) == {"aa", "bb"}, "only the displayed widget and its children stay"
    assert make_book.WIDGET_VIEW in book.cells[2].outputs[0]["data"]
    assert book.cells[2].outputs[1]["data"] == {"text/plain": "100%|##########| 5/5 [00:01<00:00]"}
    assert nb.cells[4].outputs, "the instructor notebook was modified"


def test_book_version_without_widget_renderer_shows_a_note():
    book = make_book.book_version(_exercise_notebook(), live_widgets=False)
    data = book.cells[2].outputs[0]["data"]
    assert make_book.WIDGET_VIEW not in data and "JupyterLab" in data["text/markdown"]
    assert "5/5" in book.cells[2].outputs[1]["data"]["text/plain"]
    assert "widgets" not in book.metadata


# --------------------------------------------------------------------------- landing page


README_TABLE = """# Course

```bash
make lab
make test
```

## What this is

A course.

## The notebooks

| # | notebook | you learn | time |
|---|---|---|---|
| 00 | `00_welcome` | the start | 20 min |
| 01 | `01_next` | more | 30 min |
| 06–10 | *(next wave)* | networks | |
| 11 | *(later)* | extras | |

## For instructors

See [`notebooks/README.md`](notebooks/README.md) and [nbgrader](https://nbgrader.readthedocs.io).
"""


def test_notebook_map_links_pages_and_follows_new_notebooks():
    table = make_book.notebook_map(README_TABLE, [("00_welcome", "00 · Welcome: start"),
                                                   ("07_upsampling", "07 · Upsampling")])
    assert "[Welcome: start](00_welcome.ipynb)" in table and "20 min" in table
    assert "[Upsampling](07_upsampling.ipynb)" in table  # no README row yet: from its title
    assert "next wave" not in table  # 07 exists, so the announcement of 06–10 goes
    assert "*(later)*" in table and "`01_next`" in table  # kept as they are, without a link
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert rows == ["00", "01", "07", "11"]


def test_landing_and_instructor_pages_come_from_the_readme():
    landing = make_book.landing_page(README_TABLE, [("00_welcome", "00 · Welcome")])
    assert landing.startswith("# Course") and "A course." in landing
    assert "make lab\nmake test" in landing and "(instructors.md)" in landing
    assert "00_welcome" in landing.split("```{toctree}")[1]
    teach = make_book.instructors_page(README_TABLE)
    assert "`notebooks/README.md` (in the repository)" in teach  # no dead link in the book
    assert "[nbgrader](https://nbgrader.readthedocs.io)" in teach
