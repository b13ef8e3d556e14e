"""Sphinx configuration of the course book (built by ``book/make_book.py``, ``make book``).

The sources are generated into ``build/book-src`` (book versions of the notebooks, landing
page); this folder holds only the configuration, templates and static files. Everything the
pages load is served from the site itself: no CDN at build or view time.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_book import WIDGET_JS  # noqa: E402

project = "Semantic segmentation, hands on"
author = "the course authors"
copyright = "the course authors, MIT licence"
html_title = project

extensions = [
    "myst_nb",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/mathjax, mathjax_path set to it
]
exclude_patterns = ["**.ipynb_checkpoints"]

# The notebooks are executed by CI (`make notebooks`) and committed with their outputs: the
# book shows those outputs and executes nothing.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "strikethrough"]
myst_heading_anchors = 3
# Notebook Markdown is written for JupyterLab: several top-level headings or a jump from ## to
# #### are fine there. Widget views without a renderer are replaced before the build.
suppress_warnings = ["myst.header", "myst.strikethrough"]

# ipywidgets: the saved widget states are rendered by ipywidgets' own HTML manager, served
# from _static (`make book-deps` unpacks it; without it make_book.py turns widgets into notes).
if tags.has("live_widgets"):  # noqa: F821 (`tags` is provided by Sphinx)
    html_static_path = ["_static", str(WIDGET_JS.parent)]
    nb_ipywidgets_js = {f"{WIDGET_JS.name}/dist/embed.js": {}}
else:
    html_static_path = ["_static"]
    nb_ipywidgets_js = {}
html_css_files = ["book.css"]
html_context = {"default_mode": "light"}  # figures have white backgrounds


def setup(app):
    # after MathJax (added by sphinx.ext.mathjax at priority 500, deferred): see the file
    app.add_js_file("mathjax2-shim.js", defer="defer", priority=900)

html_theme = "sphinx_book_theme"
html_theme_options = {
    "use_download_button": True,  # the page's notebook (.ipynb), from _sources/
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_sidenotes": False,
    "show_prev_next": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
    "navbar_persistent": [],  # search stays in the sidebar, not also in a header bar
}
html_copy_source = True
html_sourcelink_suffix = ""  # _sources/03_metrics.ipynb, not .ipynb.txt
html_last_updated_fmt = None
html_show_sphinx = True
