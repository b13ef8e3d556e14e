"""The course book in a real browser: every page of ``build/book`` opened from the files.

For the landing page, the instructors' page and each notebook's page, headless system
Chromium (the one ``tests/test_browser.py`` uses; ``make browser-deps`` installs it) checks
that the page asks for nothing outside the site (any such request is blocked and fails the
test), logs no console error, has no broken image or internal link, that every formula is
typeset by MathJax (no raw ``$...$`` left), that a figure is visible, that the saved widget
states are rendered, and that the page links to the previous and next pages and to its
notebook for download.

A screenshot of one page goes to ``artifacts/book.png``; with ``UPDATE_SCREENSHOT=1`` it also
replaces ``docs/book.png`` (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import urllib.parse
from pathlib import Path

import pytest
from jupyter_browser import chromium_page, find_chromium

from course_lib.grading import notebook_paths

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "book"))
import make_book  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "artifacts"
README_SCREENSHOT = REPO / "docs" / "book.png"
NOTEBOOKS = [p.stem for p in notebook_paths(REPO / "notebooks")]
PAGES = ["index", *NOTEBOOKS, "instructors"]
# The page of the README's picture, scrolled to its first figure with the maths above it.
SCREENSHOT_PAGE = "05_dense_crf"

# Console warnings that are not problems: the widget renderer compiles its JSON schema with
# Ajv in strict mode, which notes a union type in ipywidgets' own schema.
BENIGN_WARNINGS = (re.compile(r"^strict mode: use allowUnionTypes"),)

_SETTLE_JS = """
async () => {
  // images decoded, MathJax done, widget views rendered (when the page has any)
  await Promise.all([...document.images].map(i => i.complete ? null
    : new Promise(r => { i.onload = i.onerror = r; })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const live = [...document.scripts].some(s => (s.src || '').includes('/dist/embed.js'));
  for (let t = 0; live && views.length && t < 200; t++) {
    if (document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox').length) break;
    await new Promise(r => setTimeout(r, 100));
  }
  await new Promise(r => setTimeout(r, 300));
  return {views: views.length, live};
}
"""

_INSPECT_JS = """
() => {
  const article = document.querySelector('article.bd-article') || document.body;
  // text outside code, scripts and typeset maths: raw TeX delimiters left there are a bug
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {acceptNode: n =>
    n.parentElement.closest('pre, code, script, style, textarea, mjx-container, .cell_output')
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  let text = '';
  while (walker.nextNode()) text += walker.currentNode.nodeValue;
  const maths = [...article.querySelectorAll('.math')];
  const figure = article.querySelector('.cell_output img');
  return {
    rawTex: (text.match(/\\$[^$\\s][^$]{0,80}\\$|\\\\\\(|\\\\\\[/g) || []).slice(0, 5),
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent).slice(0, 5),
    mathErrors: [...article.querySelectorAll('mjx-merror')].map(e => e.textContent).slice(0, 5),
    brokenImages: [...document.images].filter(i => !i.naturalWidth).map(i => i.getAttribute('src')),
    images: article.querySelectorAll('.cell_output img').length,
    hasFigure: !!figure,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    prev: (document.querySelector('.prev-next-area a.left-prev') || {}).href || null,
    next: (document.querySelector('.prev-next-area a.right-next') || {}).href || null,
    widgets: article.querySelectorAll('.cell_output .jupyter-widgets').length,
    widgetErrors: [...article.querySelectorAll('.cell_output')].map(o => o.innerText)
      .filter(t => /Error displaying widget|model not found/.test(t)).slice(0, 3),
  };
}
"""

_FIGURE_VISIBLE_JS = """
() => {
  const img = document.querySelector('article .cell_output img');
  img.scrollIntoView({block: 'center'});
  const r = img.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {width: r.width, height: r.height, onTop: hit === img,
          visible: getComputedStyle(img).visibility === 'visible'};
}
"""


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found (looked for $CHROMIUM, chromium, chromium-browser); "
                    "`make browser-deps` installs Debian's chromium with apt-get")
    return path


@pytest.fixture(scope="module")
def site():
    return make_book.build(make_book.OUT).parent


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """A page that records console errors and blocks (and records) every request off the site."""
    with chromium_page(chromium, tmp_path_factory.mktemp("chromium-book")) as page:
        page.events = []  # (kind, text) of what went wrong, reset for each page

        def guard(route):
            if route.request.url.startswith(("file:", "data:", "blob:")):
                route.continue_()
            else:
                page.events.append(("request off the site", route.request.url))
                route.abort()

        page.route("**/*", guard)
        page.on("console", lambda m: page.events.append((f"console {m.type}", m.text))
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: page.events.append(("page error", str(e))))
        page.on("requestfailed", lambda r: page.events.append(
            ("request failed", f"{r.url} ({r.failure})")))
        yield page


def _problems(events):
    return [f"{kind}: {text}" for kind, text in events
            if not (kind == "console warning" and any(p.search(text) for p in BENIGN_WARNINGS))]


def _check_link(site, href):
    """Why an internal link is broken, or None."""
    parts = urllib.parse.urlsplit(href)
    if parts.scheme != "file":
        return None  # papers and documentation on the web: links, not resources
    target = Path(urllib.parse.unquote(parts.path))
    if site.resolve() not in target.resolve().parents:
        return f"{href} leaves the site"
    if not target.is_file():
        return f"{href}: no such file"
    if parts.fragment and target.suffix == ".html":
        anchor = urllib.parse.unquote(parts.fragment)
        if f'id="{anchor}"' not in target.read_text(errors="replace"):
            return f"{href}: no element with id {anchor!r}"
    return None


@pytest.mark.parametrize("name", PAGES)
def test_book_page(site, browser, name):
    page = browser
    path = site / f"{name}.html"
    assert path.is_file(), f"the book has no {path.name}"
    page.events.clear()
    page.goto(path.as_uri(), wait_until="load")
    settled = page.evaluate(_SETTLE_JS)
    seen = page.evaluate(_INSPECT_JS)
    try:
        problems = _problems(page.events)
        assert not problems, f"{name}.html:\n" + "\n".join(problems)
        assert not seen["brokenImages"], f"{name}.html: broken images {seen['brokenImages']}"
        broken = sorted({b for b in (_check_link(site, h) for h in seen["links"]) if b})
        assert not broken, f"{name}.html: broken internal links:\n" + "\n".join(broken)
        assert not seen["rawTex"], f"{name}.html: TeX left untypeset: {seen['rawTex']}"
        assert not seen["untypeset"], f"{name}.html: maths not typeset: {seen['untypeset']}"
        assert not seen["mathErrors"], f"{name}.html: MathJax errors: {seen['mathErrors']}"
        if name not in NOTEBOOKS:
            return
        index = NOTEBOOKS.index(name)
        prev = NOTEBOOKS[index - 1] if index else "index"
        nxt = NOTEBOOKS[index + 1] if index + 1 < len(NOTEBOOKS) else "instructors"
        assert seen["prev"] and seen["prev"].endswith(f"/{prev}.html"), seen["prev"]
        assert seen["next"] and seen["next"].endswith(f"/{nxt}.html"), seen["next"]
        assert any(h.endswith(f"/_sources/{name}.ipynb") for h in seen["links"]), (
            f"{name}.html has no link to download its notebook")
        assert seen["hasFigure"], (
            f"{name}.html shows no figure: is notebooks/{name}.ipynb executed, with its outputs "
            "saved?")
        figure = page.evaluate(_FIGURE_VISIBLE_JS)
        assert figure["width"] > 50 and figure["height"] > 50 and figure["visible"], figure
        assert figure["onTop"], f"{name}.html: its first figure is covered by something"
        if settled["views"] and settled["live"]:
            assert seen["widgets"] > 0, f"{name}.html: its saved widget state is not rendered"
            assert not seen["widgetErrors"], seen["widgetErrors"]
        assert not _problems(page.events), _problems(page.events)
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"book-failure-{name}.png"))
        raise


def test_book_screenshot(site, browser):
    if SCREENSHOT_PAGE not in NOTEBOOKS:
        pytest.skip(f"notebooks/{SCREENSHOT_PAGE}.ipynb is not there")
    page = browser
    page.goto((site / f"{SCREENSHOT_PAGE}.html").as_uri(), wait_until="load")
    page.evaluate(_SETTLE_JS)
    page.evaluate("""() => {
      // the last paragraph with maths above the first figure goes to the top of the view
      const top = document.querySelector('article .cell_output img').getBoundingClientRect().top;
      const above = [...document.querySelectorAll('article p')].filter(p =>
        p.querySelector('mjx-container') && p.getBoundingClientRect().bottom < top);
      const start = above.length ? above[above.length - 1].getBoundingClientRect().top : top;
      window.scrollTo(0, window.scrollY + start - 70);  // below the sticky header
    }""")
    page.wait_for_timeout(500)
    assert not _problems(page.events), _problems(page.events)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "book.png"
    page.screenshot(path=str(shot))
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)
