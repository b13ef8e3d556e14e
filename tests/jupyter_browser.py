"""Drive a real JupyterLab in headless Chromium (helpers for ``tests/test_browser.py``).

Two pieces, each a context manager that cleans up whatever happens inside it:

* :class:`JupyterLab` starts ``jupyter lab`` on a free loopback port with a random
  token, in a throwaway root folder, with every network feature (news, update
  check) off and its settings and workspaces in temporary folders; on exit it asks
  the server to shut down (which stops its kernels), then kills the process groups
  of the server and of every process it started, by process id.
* :func:`chromium_page` launches the system Chromium (Debian's ``/usr/bin/chromium``)
  through Playwright with a fresh profile, and kills every process the launch
  created when it is done.

The page helpers at the end read JupyterLab 4's DOM: notebook panels, cells,
output areas, the kernel status indicator of the notebook toolbar, dialogs and
ipywidgets' sliders.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = [
    "CHROMIUM_ARGS",
    "JupyterLab",
    "find_chromium",
    "chromium_page",
    "open_notebook",
    "wait_kernel_idle",
    "run_all_cells",
    "error_outputs",
    "broken_widget_messages",
    "open_dialogs",
    "error_toasts",
    "output_images",
    "nudge_first_slider",
    "frame_first_widget",
]

# Flags for Chromium: headless, no sandbox (containers run as root), and nothing
# that talks to the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings written into the temporary settings folder: no news or
# update checks (nothing may touch the network), and every cell attached to the
# DOM so that the checks see the whole notebook, not just the cells in view.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
}

# Messages that ipywidgets shows in place of a widget it cannot display.
BROKEN_WIDGET_TEXTS = ("Error displaying widget", "model not found", "Loading widget...")


# --------------------------------------------------------------------------- processes


def _children_map() -> dict[int, list[int]]:
    """Map each process id to the ids of its children, read from ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent id; the command name (field 2) may hold spaces, so
        # split after its closing parenthesis.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Return the ids of every process below ``pid`` (children, grandchildren, ...)."""
    tree = _children_map()
    found, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def kill_processes(pids, *, grace: float = 5.0) -> None:
    """Terminate the given processes and the process groups they lead, by id.

    SIGTERM first, SIGKILL for whatever is still alive after ``grace`` seconds.
    Our own process group is never signalled.
    """
    own_group = os.getpgrp()
    pids = [p for p in dict.fromkeys(pids) if p != os.getpid()]

    def signal_all(sig):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                pgid = os.getpgid(pid)
                if pgid == pid and pgid != own_group:
                    os.killpg(pgid, sig)
                else:
                    os.kill(pid, sig)

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    signal_all(signal.SIGKILL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- JupyterLab


class JupyterLab:
    """A JupyterLab server on ``127.0.0.1`` serving ``root_dir``, with token auth on.

    Parameters
    ----------
    root_dir : Path
        Folder the server shows (the test passes a temporary copy of ``notebooks/``).
    work_dir : Path
        Temporary folder for the server's settings, workspaces, runtime files and log.
    startup_timeout : float
        Seconds to wait for the server to answer ``/api/status``.

    Use as a context manager; ``url(path)`` gives an address with the token.
    """

    def __init__(self, root_dir: Path, work_dir: Path, *, startup_timeout: float = 120.0):
        self.root_dir = Path(root_dir)
        self.work_dir = Path(work_dir)
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.work_dir / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- lifecycle

    def __enter__(self) -> JupyterLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        settings_dir = self.work_dir / "lab-settings"
        for rel, values in _LAB_SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        dirs = {name: self.work_dir / name for name in ("workspaces", "runtime", "config", "ipython")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)

        env = dict(os.environ)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTER_CONFIG_DIR=str(dirs["config"]),  # ignore the user's ~/.jupyter
            IPYTHONDIR=str(dirs["ipython"]),  # and their IPython startup files
            PYTHONUNBUFFERED="1",
        )
        env.pop("MPLBACKEND", None)  # a non-inline backend would hide every figure
        env.pop("JUPYTER_TOKEN", None)
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.open_browser=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={dirs['workspaces']}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd, cwd=self.root_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with status {self.proc.returncode} before it was "
                    f"ready; its log ends with:\n{self.log_tail()}"
                )
            try:
                status = self.api("GET", "/api/status")
                if "started" in status:
                    # /lab also needs the lab extension loaded; make sure it answers.
                    with urllib.request.urlopen(self.url("lab"), timeout=10) as r:
                        if r.status == 200:
                            return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"jupyter lab did not answer on {self.base} within {self.startup_timeout:.0f} s; "
            f"its log ends with:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Shut the server and its kernels down, killing by process id what lingers."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]  # server, kernels, ...
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.api("POST", "/api/shutdown", timeout=10)  # stops the kernels too
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        kill_processes(pids)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = None

    # -- helpers

    def url(self, path: str = "lab", **query) -> str:
        """Address of ``path`` on the server, with the token in the query string."""
        query = {"token": self.token, **query}
        qs = "&".join(k if v is None else f"{k}={v}" for k, v in query.items())
        return f"{self.base}/{path.lstrip('/')}?{qs}"

    def api(self, method: str, path: str, *, timeout: float = 10.0):
        """Call the REST API with the token; return the decoded JSON (or ``None``)."""
        req = urllib.request.Request(
            self.base + path, method=method, data=b"" if method != "GET" else None,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Stop every kernel session the browser opened (keeps the server light)."""
        for session in self.api("GET", "/api/sessions") or []:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------- Chromium


def find_chromium() -> str | None:
    """Path of the system Chromium (``$CHROMIUM`` overrides), or ``None`` if absent."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextlib.contextmanager
def chromium_page(executable: str, profile_dir: Path, *, viewport=(1400, 900)):
    """Yield a Playwright ``Page`` in headless system Chromium with a fresh profile.

    Never downloads a browser: ``executable`` is the installed Chromium. Every
    process started by the launch (Playwright's driver, Chromium and its helpers)
    is killed by id on exit, even when the launch or the test fails.
    """
    from playwright.sync_api import sync_playwright

    before = set(descendants(os.getpid()))
    pw = sync_playwright().start()
    started = []
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
            timeout=60_000,
        )
        started = [p for p in descendants(os.getpid()) if p not in before]
        context.set_default_timeout(60_000)
        page = context.pages[0] if context.pages else context.new_page()
        yield page
    finally:
        started = list(dict.fromkeys(started + [p for p in descendants(os.getpid())
                                                 if p not in before]))
        with contextlib.suppress(Exception):
            if context is not None:
                context.close()
        with contextlib.suppress(Exception):
            pw.stop()
        kill_processes(started, grace=2.0)


# --------------------------------------------------------------------------- page helpers

_ACTIVE_NB = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_notebook(page, lab: JupyterLab, path: str, *, timeout: float = 120.0) -> None:
    """Open ``path`` (relative to the server root) in a fresh workspace; wait for its kernel.

    Returns once the kernel is idle or a dialog is up (check :func:`open_dialogs`).
    """
    page.goto(lab.url(f"lab/tree/{path}", reset=None), wait_until="domcontentloaded")
    page.wait_for_selector(f"{_ACTIVE_NB} .jp-Notebook .jp-Cell", timeout=timeout * 1000)
    # An idle kernel, or a dialog (e.g. "Select Kernel" for an unknown kernelspec)
    # that the caller reports with open_dialogs() instead of timing out here.
    page.wait_for_selector(
        f'{_ACTIVE_NB} .jp-Notebook-ExecutionIndicator[data-status="idle"], .jp-Dialog',
        timeout=timeout * 1000,
    )


def wait_kernel_idle(page, *, timeout: float = 120.0) -> None:
    """Wait until the notebook toolbar's kernel indicator says ``idle``."""
    page.wait_for_selector(
        f'{_ACTIVE_NB} .jp-Notebook-ExecutionIndicator[data-status="idle"]',
        timeout=timeout * 1000,
    )


def _click_menu(page, menu: str, command: str) -> None:
    """Click ``menu`` in the menu bar, then its item bound to ``command``."""
    page.locator(".lm-MenuBar-item", has_text=menu).first.click()
    page.locator(f'.lm-Menu li.lm-Menu-item[data-command="{command}"]').first.click()
    page.wait_for_selector(".lm-Menu", state="detached")


_RUN_STATE_JS = """
() => {
  const nb = document.querySelector('ACTIVE_NB .jp-Notebook');
  if (!nb) return null;
  const cells = [...nb.querySelectorAll('.jp-CodeCell')].filter(c => {
    const src = c.querySelector('.cm-content');
    return src && src.textContent.trim() !== '';
  });
  const prompts = cells.map(c => {
    const p = c.querySelector('.jp-InputArea-prompt');
    return p ? p.textContent.trim() : '';
  });
  const ind = document.querySelector('ACTIVE_NB .jp-Notebook-ExecutionIndicator');
  return {prompts, status: ind ? ind.dataset.status : null};
}
""".replace("ACTIVE_NB", _ACTIVE_NB)


def run_all_cells(page, *, timeout: float = 300.0) -> dict:
    """Clear the outputs, then Run > Run All Cells; wait until no cell is queued or running.

    Returns the final ``{"prompts": [...], "status": ...}`` state of the non-empty
    code cells, so the caller can see which ones ran (``[n]:``) and which did not
    (``[ ]:``, as JupyterLab leaves the cells after one that raised).
    """
    _click_menu(page, "Edit", "editmenu:clear-all")
    page.wait_for_function(
        f"() => {{ const s = ({_RUN_STATE_JS})(); "
        "return s && s.prompts.length > 0 && s.prompts.every(p => !/\\d/.test(p)); }"
    )
    started = (f"() => {{ const s = ({_RUN_STATE_JS})(); "
               "return s && s.prompts.some(p => p === '[*]:' || /\\d/.test(p)); }")
    for attempt in range(2):  # a menu click lost to a busy page is retried once
        _click_menu(page, "Run", "runmenu:run-all")
        try:
            page.wait_for_function(started, timeout=30_000, polling=200)
            break
        except Exception:
            if attempt:
                raise
    page.wait_for_function(
        f"""() => {{
          const s = ({_RUN_STATE_JS})();
          return s && s.status === 'idle' && !s.prompts.includes('[*]:')
            && s.prompts.some(p => /\\d/.test(p));
        }}""",
        timeout=timeout * 1000,
        polling=500,
    )
    return page.evaluate(_RUN_STATE_JS)


def error_outputs(page) -> list[str]:
    """Texts of outputs that show an error: tracebacks, ``...Error`` on stderr."""
    return page.evaluate(
        """(sel) => {
          const out = [];
          for (const el of document.querySelectorAll(sel + ' .jp-OutputArea-output')) {
            const text = el.innerText || '';
            const stderr = el.dataset.mimeType === 'application/vnd.jupyter.stderr';
            if (text.includes('Traceback') || (stderr && /Error|Exception/.test(text)))
              out.push(text.slice(0, 2000));
          }
          return out;
        }""",
        _ACTIVE_NB,
    )


def broken_widget_messages(page) -> list[str]:
    """Places where ipywidgets shows an error or a widget that never loaded."""
    return page.evaluate(
        """([sel, needles]) => {
          const nb = document.querySelector(sel);
          if (!nb) return ['no notebook panel'];
          const out = [];
          for (const el of nb.querySelectorAll('.jp-OutputArea-output')) {
            const text = el.innerText || '';
            for (const n of needles) if (text.includes(n)) out.push(text.slice(0, 500));
          }
          return out;
        }""",
        [_ACTIVE_NB, list(BROKEN_WIDGET_TEXTS)],
    )


def open_dialogs(page) -> list[str]:
    """Texts of JupyterLab dialogs on screen (kernel errors, extension failures, ...)."""
    return page.locator(".jp-Dialog").evaluate_all("els => els.map(e => e.innerText)")


def error_toasts(page) -> list[str]:
    """Texts of error / warning notifications (toasts) on screen."""
    return page.locator(".Toastify__toast--error, .Toastify__toast--warning").evaluate_all(
        "els => els.map(e => e.innerText)"
    )


def output_images(page) -> list[str]:
    """``src`` of every image in the active notebook's outputs (figures, image widgets)."""
    return page.locator(f"{_ACTIVE_NB} .jp-OutputArea-output img").evaluate_all(
        "els => els.filter(e => e.naturalWidth > 0).map(e => e.getAttribute('src'))"
    )


_WIDGET_OUTPUT_JS = """
(slider) => {
  // What the explorer shows: its images and text, outside the controls themselves.
  const area = slider.closest('.jp-OutputArea-output') || slider.parentElement;
  const parts = [];
  for (const img of area.querySelectorAll('img')) parts.push(img.getAttribute('src') || '');
  for (const el of area.querySelectorAll('.widget-output, .widget-html-content, .widget-label'))
    parts.push(el.innerText);
  return parts.join('\\n');
}
"""


def nudge_first_slider(page, *, timeout: float = 120.0) -> dict:
    """Move the first ipywidgets slider by one step with the keyboard; wait for its output.

    Returns ``{"before": ..., "after": ..., "value_before": ..., "value_after": ...}``
    where before/after are the explorer's output (image sources and texts) and the
    values are the slider's readout. Raises a Playwright ``TimeoutError`` when the
    output does not change.
    """
    slider = page.locator(f"{_ACTIVE_NB} .jp-OutputArea-output .widget-slider").first
    slider.wait_for(state="visible", timeout=timeout * 1000)
    slider.scroll_into_view_if_needed()
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    before = slider.evaluate(_WIDGET_OUTPUT_JS)
    value_before = readout.inner_text() if readout.count() else None
    now = float(handle.get_attribute("aria-valuenow") or 0)
    top = float(handle.get_attribute("aria-valuemax") or now + 1)
    handle.focus()
    handle.press("ArrowRight" if now < top else "ArrowLeft")
    # Wait for a different picture, not for the blank moment while it is redrawn.
    page.wait_for_function(
        f"""([slider, before]) => {{
          const now = ({_WIDGET_OUTPUT_JS})(slider);
          const images = s => (s.match(/data:image|blob:/g) || []).length;
          return now !== before && images(now) >= images(before);
        }}""",
        arg=[slider.element_handle(), before],
        timeout=timeout * 1000,
        polling=250,
    )
    wait_kernel_idle(page, timeout=timeout)
    return {
        "before": before,
        "after": slider.evaluate(_WIDGET_OUTPUT_JS),
        "value_before": value_before,
        "value_after": readout.inner_text() if readout.count() else None,
    }


def frame_first_widget(page) -> None:
    """Hide the file browser and scroll so the first slider's explorer fills the view."""
    if page.locator("#jp-left-stack:not(.lm-mod-hidden)").count():
        # Clicking the current tab of the left side bar collapses it.
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").first.click()
        page.wait_for_selector("#jp-left-stack", state="hidden")
    page.locator(f"{_ACTIVE_NB} .jp-OutputArea-output .widget-slider").first.evaluate(
        "e => e.closest('.jp-OutputArea-output').scrollIntoView({block: 'end'})"
    )
    page.keyboard.press("Escape")  # no lingering menu or focus ring in the picture
