"""A classroom on the course's JupyterHub: users, the environment they run, the exchange, the demo.

``make hub`` runs ``python hub/classroom.py demo``: it creates an instructor and a few students
(system users when run as root, each user's server then runs as that user), puts the course's
graded notebooks in the instructor's ``~/course/source/`` and generates the student versions
(ready to release from the formgrader), creates nbgrader's exchange, starts JupyterHub
(``hub/jupyterhub_config.py``) on 127.0.0.1, prints how to log in, and on Ctrl-C stops every
process it started and removes the users and files it created. ``tests/test_hub.py`` and
``benchmarks/bench_classroom.py`` use the same pieces.

Nothing here downloads anything: JupyterHub comes from the course environment (the ``hub``
extra of pyproject.toml) and configurable-http-proxy from ``hub/node_modules`` (``make
hub-deps``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "hub"
CONFIG = HUB / "config"
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"

__all__ = ["others_can_use", "traversable_for_others", "restore_modes", "shared_environment", "add_user", "remove_user", "user_home",
           "make_exchange", "prepare_course", "run_as", "free_port", "Hub", "demo"]


# --------------------------------------------------------------------------- environment


def others_can_use(path):
    """Whether users other than its owner can reach and read ``path`` (links resolved)."""
    path = Path(os.path.realpath(path))
    if not all(os.stat(parent).st_mode & stat.S_IXOTH for parent in path.parents):
        return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def traversable_for_others(path):
    """Give other users the right to *pass through* (``o+x``, not to list) every folder above
    ``path`` that lacks it, as a private temporary folder or home holding a clone does.

    Returns the changed folders with their old modes, for :func:`restore_modes`; nothing is
    made readable that was not already.
    """
    changed = []
    for parent in reversed(Path(os.path.realpath(path)).parents):
        mode = os.stat(parent).st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((parent, stat.S_IMODE(mode)))
    return changed


def restore_modes(changed):
    """Undo :func:`traversable_for_others`."""
    for folder, mode in reversed(changed):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(folder, mode)


def shared_environment(dest):
    """A python that every user can run, seeing the course environment: ``(python, env vars)``.

    Users' servers must run the course environment. When this interpreter and its packages are
    readable by everyone (a system Python, TLJH's /opt/tljh/user, a conda env in /opt), that is
    this interpreter. A virtual environment made from an interpreter that others cannot reach
    (pyenv's under /root, say) gets a copy of the base interpreter and its standard library
    (about 100 MB, without site-packages) in ``dest``, with a virtual environment over it that
    adds the course environment's site-packages: same packages, same ``course_lib``, nothing
    installed twice, nothing downloaded.

    Raises
    ------
    PermissionError
        If other users cannot read this repository (``course_lib``, the notebooks).
    """
    for path in (ROOT / "course_lib" / "__init__.py", ROOT / "notebooks"):
        if not others_can_use(path):
            raise PermissionError(f"other users cannot read {path}: the users' servers import "
                                  "course_lib from this repository; clone it where everyone can "
                                  "read it (not under a private home such as /root)")
    purelib = Path(sysconfig.get_paths()["purelib"])
    base_exe = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    if others_can_use(base_exe) and others_can_use(purelib):
        return Path(sys.executable), {}
    dest = Path(dest)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base, env = dest / "base", dest / "env"
    (base / "bin").mkdir(parents=True)
    shutil.copy2(base_exe, base / "bin" / version)
    (base / "lib").mkdir()
    for lib in Path(sys.base_prefix, "lib").glob("libpython*.so*"):
        shutil.copy2(lib, base / "lib" / lib.name)
    shutil.copytree(Path(sys.base_prefix, "lib", version), base / "lib" / version, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "tkinter",
                                                  "turtledemo"))
    (base / "lib" / version / "site-packages").mkdir()
    (env / "bin").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\ninclude-system-site-packages = false\n"
                                    f"version = {platform.python_version()}\n")
    for name in ("python", "python3", version):
        (env / "bin" / name).symlink_to(base / "bin" / version)
    site = env / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "course-environment.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n")
    for name in ("share", "etc"):  # Jupyter's data and config: lab extensions, server extensions
        if Path(sys.prefix, name).is_dir():
            (env / name).symlink_to(Path(sys.prefix, name))
    for script in Path(sys.prefix, "bin").iterdir():  # console scripts (nbgrader, alembic, ...)
        if script.is_file() and not script.is_symlink() and not (env / "bin" / script.name).exists():
            with open(script, "rb") as f:
                first = f.readline()
            if first.startswith(b"#!") and str(sys.prefix).encode() in first:
                (env / "bin" / script.name).write_bytes(
                    f"#!{env / 'bin' / 'python'}\n".encode() + script.read_bytes()[len(first):])
                (env / "bin" / script.name).chmod(0o755)
    for folder in (dest, *dest.rglob("*")):
        if not folder.is_symlink():
            folder.chmod(folder.stat().st_mode | stat.S_IROTH | stat.S_IRGRP
                         | (stat.S_IXOTH | stat.S_IXGRP if folder.is_dir() else 0))
    return env / "bin" / "python", {"LD_LIBRARY_PATH": str(base / "lib")}


# --------------------------------------------------------------------------- users


def add_user(name):
    """Create system user ``name`` with a private home (mode 700); returns the home."""
    subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
                   check=True, capture_output=True, text=True)
    home = Path(pwd.getpwnam(name).pw_dir)
    home.chmod(0o700)
    return home


def remove_user(name):
    """Stop every process of system user ``name`` (by pid), then delete the user and home."""
    import psutil

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for _ in range(3):
        procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"]
                 and p.info["uids"].real == uid]
        if not procs:
            break
        for proc in procs:
            with _gone():
                proc.kill()
        psutil.wait_procs(procs, timeout=5)
    subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)


def user_home(name, state=None):
    """The home of ``name``: the system user's, or (without root) ``state/home/name``."""
    if os.getuid() != 0:
        return Path(state) / "home" / name
    return Path(pwd.getpwnam(name).pw_dir)


class _gone:
    """Ignore a process that already exited."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        import psutil

        return kind is not None and issubclass(kind, psutil.NoSuchProcess)


def make_exchange(path):
    """nbgrader's exchange folder, as nbgrader documents it: readable and writable by all."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def run_as(user, args, *, env, cwd, timeout=600):
    """Run ``args`` as system user ``user`` (as root), or as ourselves (without root)."""
    kwargs = {}
    if os.getuid() == 0:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def prepare_course(instructor, notebooks, *, home):
    """The instructor's ``~/course``: ``source/NN_topic/`` per notebook (with its assets).

    Returns the course folder (owned by the instructor).
    """
    course = Path(home) / "course"
    for nb in notebooks:
        folder = course / "source" / nb.stem
        folder.mkdir(parents=True, exist_ok=True)
        for asset in nb.parent.glob(nb.name[:3] + "*"):
            if asset.is_file():
                shutil.copy2(asset, folder / asset.name)
    if os.getuid() == 0:
        entry = pwd.getpwnam(instructor)
        for path in (course, *course.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return course


def free_port(count=3):
    """A port ``p`` such that ``p`` .. ``p + count - 1`` are free on 127.0.0.1."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count < 65536 and all(_free(port + k) for k in range(count)):
            return port
    raise RuntimeError("no free ports on 127.0.0.1")


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- the hub


class Hub:
    """JupyterHub with the course's configuration, started and stopped by process id.

    Parameters
    ----------
    state : Path
        Folder for the hub's database, cookie secret, pid files and log (``hub.log``).
    instructor : str
    students : list of str
    python : Path
        The course environment's python that users' servers run (:func:`shared_environment`).
    env : dict
        Extra environment variables of users' servers (``LD_LIBRARY_PATH``, ...).
    exchange : Path
        nbgrader's exchange (:func:`make_exchange`).
    port : int, optional
        Public port on 127.0.0.1 (the next two are used too); a free one by default.
    password : str, optional
        Demo password for every user (DummyAuthenticator); PAM without it.
    admin_token : str, optional
        API token of the ``course-admin`` service.
    """

    def __init__(self, state, *, instructor, students, python, env, exchange, port=None,
                 password=None, admin_token=None):
        self.state = Path(state)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instructor, self.students = instructor, list(students)
        self.admin_token = admin_token
        self.environ = dict(
            os.environ,
            COURSE_HUB_PORT=str(self.port), COURSE_HUB_STATE=str(self.state),
            COURSE_HUB_PYTHON=str(python), COURSE_HUB_CONFIG=str(CONFIG),
            COURSE_HUB_ENV=";".join(f"{k}={v}" for k, v in env.items()),
            COURSE_INSTRUCTOR=instructor, COURSE_STUDENTS=",".join(self.students),
            NBGRADER_EXCHANGE=str(exchange),
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        for key, value in (("COURSE_HUB_DEMO_PASSWORD", password),
                           ("COURSE_HUB_ADMIN_TOKEN", admin_token)):
            if value:
                self.environ[key] = value
            else:
                self.environ.pop(key, None)
        self.process = None
        self.log = self.state / "hub.log"

    def start(self, timeout=90):
        """Start the hub and wait until its API answers; raises with the log's tail if not."""
        import requests

        if not PROXY.exists():
            raise RuntimeError(f"{PROXY} is missing: run `make hub-deps` (npm install in hub/)")
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(HUB / "jupyterhub_config.py")],
                cwd=self.state, env=self.environ, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited ({self.process.returncode}):\n"
                                   + self.tail())
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s:\n" + self.tail())

    def tail(self, lines=40):
        """The last lines of the hub's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self):
        """Process ids of the hub and everything it started (proxy, servers, kernels)."""
        import psutil

        if self.process is None:
            return []
        try:
            hub = psutil.Process(self.process.pid)
            return [hub.pid, *(p.pid for p in hub.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout=60):
        """Stop the hub (it stops the servers and the proxy), then any survivor, by pid."""
        import psutil

        if self.process is None:
            return
        pids = self.pids()
        proxy_pid = self.state / "jupyterhub-proxy.pid"
        if proxy_pid.exists() and proxy_pid.read_text().strip().isdigit():
            pids.append(int(proxy_pid.read_text().strip()))
        pids = [pid for pid in pids if pid > 1 and pid != os.getpid()]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        procs = []
        for pid in pids:
            with _gone():
                procs.append(psutil.Process(pid))
        for proc in procs:
            with _gone():
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        self.process = None

    # ---- REST API
    def api(self, method, path, *, token=None, **kwargs):
        """A request to the hub's REST API (``/hub/api`` + path) with a token."""
        return self.request(method, "/hub/api" + path, token=token or self.admin_token, **kwargs)

    def request(self, method, path, *, token=None, **kwargs):
        """A request through the proxy (``path`` from the root), with ``token`` if given."""
        import requests

        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        kwargs.setdefault("timeout", 60)
        return requests.request(method, self.url + path, headers=headers,
                                allow_redirects=False, **kwargs)

    def start_server(self, user, timeout=120):
        """Start ``user``'s server through the REST API and wait until it is ready."""
        reply = self.api("POST", f"/users/{user}/server")
        if reply.status_code not in (201, 202, 400):
            raise RuntimeError(f"starting {user}'s server: {reply.status_code} {reply.text}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/users/{user}").json().get("servers", {}).get("", {})
            if server.get("ready"):
                return server
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server not ready within {timeout} s:\n" + self.tail())

    def token(self, user, expires_in=3600):
        """A new API token of ``user`` (their own permissions)."""
        reply = self.api("POST", f"/users/{user}/tokens",
                         json={"note": "course classroom", "expires_in": expires_in})
        if reply.status_code != 201:
            raise RuntimeError(f"token for {user}: {reply.status_code} {reply.text}")
        return reply.json()["token"]


# --------------------------------------------------------------------------- the demo


def _user_env(python, extra, home, user, exchange):
    return {**extra, "HOME": str(home), "USER": user, "LOGNAME": user,
            "PATH": os.pathsep.join([str(Path(python).parent), "/usr/local/bin:/usr/bin:/bin"]),
            "JUPYTER_CONFIG_PATH": str(CONFIG), "NBGRADER_EXCHANGE": str(exchange),
            "COURSE_ROOT": str(Path(home) / "course")}


def demo(port=8000, n_students=3):
    """Start the demo classroom; Ctrl-C stops it and removes what it created."""
    sys.path.insert(0, str(ROOT))
    from course_lib import grading

    root = os.getuid() == 0
    instructor, students = "demo-instructor", [f"demo-student{k}" for k in range(1, n_students + 1)]
    users = [instructor, *students]
    if root:
        taken = [u for u in users if _exists(u)]
        if taken:
            sys.exit(f"users {taken} exist already; remove them (userdel -r) or stop the other demo")
    state = Path(tempfile.mkdtemp(prefix="course-hub-"))
    state.chmod(0o755)
    hub = None
    created = []
    try:
        print("preparing the classroom (users, environment, exchange, assignments): "
              "a minute or two ...")
        python, extra = shared_environment(state / "python")
        exchange = make_exchange(state / "exchange")
        for user in users:
            if root:
                add_user(user)
                created.append(user)
            else:
                user_home(user, state).mkdir(parents=True)
        home = user_home(instructor, state)
        notebooks = [p for p in grading.notebook_paths(ROOT / "notebooks")
                     if grading.graded_cells(grading.read_notebook(p))]
        course = prepare_course(instructor, notebooks, home=home)
        env = _user_env(python, extra, home, instructor, exchange)
        for nb in notebooks:
            done = run_as(instructor, [str(Path(python).parent / "nbgrader"),
                                       "generate_assignment", nb.stem], env=env, cwd=course)
            if done.returncode:
                print(f"generate_assignment {nb.stem} failed:\n{done.stderr[-2000:]}")
        password = secrets.token_urlsafe(9)
        hub = Hub(state / "hub", instructor=instructor, students=students, python=python,
                  env=extra, exchange=exchange, port=port, password=password).start()
        print(f"""
The course's classroom is running at {hub.url} (127.0.0.1 only).
  instructor: {instructor}   (Nbgrader > Formgrader: {len(notebooks)} assignments, generated,
              ready to release; the course is in ~/course)
  students:   {', '.join(students)}   (Nbgrader > Assignments: fetch, work, submit)
  password:   {password}   (every user; demo only)
  exchange:   {exchange}
{'' if root else 'Not root: every user runs as you, with no isolation (a look only).'}
Stop it with Ctrl-C here: it stops every server, then removes the demo users and {state}.""")
        hub.process.wait()
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        if hub is not None:
            hub.stop()
        for user in created:
            remove_user(user)
        shutil.rmtree(state, ignore_errors=True)
        print("stopped; demo users and files removed")


def _exists(user):
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="start the demo classroom on 127.0.0.1 (Ctrl-C stops it)")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--students", type=int, default=3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    demo(args.port, args.students)
    return 0


if __name__ == "__main__":
    sys.exit(main())
