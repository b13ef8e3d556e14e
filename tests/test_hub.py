"""The classroom end to end: JupyterHub, one server per system user, nbgrader's exchange.

One module-scoped classroom (``hub/classroom.py``): an instructor and three students created
as system users for the test, JupyterHub (``hub/jupyterhub_config.py``) on 127.0.0.1 with
each user's server running as that user in the course environment, nbgrader's exchange in a
temporary folder. Through the hub's REST API and each user's own server (tokens made by the
hub): the instructor generates and releases notebook 03 from the formgrader; each student
fetches it; ``solved`` submits it solved, ``untouched`` as released, ``partial`` with exercise
1 solved; the instructor collects, autogrades and returns feedback. Then: the scores, the
feedback without hidden tests, what a student can read (not another's home or submission,
not the instructor's sources or gradebook), what the proxy lets through (not another user's
server or kernel, nothing without a token), and that everything listens on loopback only.

Everything is started and stopped by process id, and the users and temporary folders are
removed, by the fixture's finalizer, also when a step fails. Skipped, with the reason, where
users cannot be created (not root, no ``useradd``) or configurable-http-proxy is missing.
"""

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from course_lib import grading

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub"))
import classroom  # noqa: E402

pytestmark = [pytest.mark.hub, pytest.mark.slow]

NOTEBOOK = ROOT / "notebooks" / "03_metrics.ipynb"
ASSIGNMENT = NOTEBOOK.stem
COURSE_ID = "segmentation"


def _skip_reason():
    if os.getuid() != 0:
        return "needs root: it creates system users and runs each user's server as that user"
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        return "useradd/userdel not found: cannot create the test's system users"
    try:
        import jupyterhub  # noqa: F401
        import psutil  # noqa: F401
        import requests  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (the `hub` extra of pyproject.toml; `make install`)"
    if not all(os.stat(p).st_mode & stat.S_IROTH
               for p in (ROOT / "course_lib" / "__init__.py", ROOT / "notebooks")):
        return (f"other users cannot read {ROOT}: the test users' servers import course_lib "
                "from it (clone the repository where everyone can read it)")
    if not classroom.PROXY.exists():
        return f"{classroom.PROXY} is missing: run `make hub-deps` (needs npm)"
    return None


@pytest.fixture(scope="module")
def room(request):
    """The running classroom: users, servers, tokens; torn down by pid in the finalizer."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # a clone in a private folder (mktemp -d, a home): let the test users pass through it for
    # the test's duration (o+x on the folders above the repository, restored afterwards)
    opened = classroom.traversable_for_others(ROOT)
    request.addfinalizer(lambda: classroom.restore_modes(opened))
    tag = secrets.token_hex(3)
    instructor = f"ct{tag}-teacher"
    students = {role: f"ct{tag}-{role}" for role in ("solved", "untouched", "partial")}
    state = Path(tempfile.mkdtemp(prefix="course-hub-test-"))
    state.chmod(0o755)
    created, hub = [], None

    def teardown():
        if hub is not None:
            hub.stop()
        for user in created:
            classroom.remove_user(user)
        shutil.rmtree(state, ignore_errors=True)

    request.addfinalizer(teardown)
    for user in (instructor, *students.values()):
        try:
            classroom.add_user(user)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create system user {user!r}: {exc.stderr.strip()}")
        created.append(user)
    python, extra = classroom.shared_environment(state / "python")
    exchange = classroom.make_exchange(state / "exchange")
    home = classroom.user_home(instructor)
    classroom.prepare_course(instructor, [NOTEBOOK], home=home)
    hub = classroom.Hub(state / "hub", instructor=instructor, students=list(students.values()),
                        python=python, env=extra, exchange=exchange,
                        admin_token=secrets.token_hex(24)).start()
    users = [instructor, *students.values()]
    for user in users:  # start them all, then wait: they boot in parallel
        reply = hub.api("POST", f"/users/{user}/server")
        assert reply.status_code in (201, 202), (user, reply.status_code, reply.text)
    for user in users:
        hub.start_server(user)
    tokens = {user: hub.token(user) for user in users}
    return SimpleNamespace(hub=hub, instructor=instructor, students=students, tokens=tokens,
                           python=python, extra=extra, exchange=exchange, state=state,
                           home=home)


def _post(room, user, path, timeout=120, **data):
    reply = room.hub.request("POST", f"/user/{user}{path}", token=room.tokens[user], data=data,
                             timeout=timeout)
    assert reply.status_code == 200, (user, path, reply.status_code, reply.text[:2000])
    return reply.json() if reply.text else None


def _formgrader(room, path, timeout=300):
    result = _post(room, room.instructor, f"/formgrader/api/{path}", timeout=timeout)
    assert result.get("success"), (path, result.get("error"), str(result.get("log"))[-3000:])
    return result


def _contents(room, user, path, method="GET", **kwargs):
    reply = room.hub.request(method, f"/user/{user}/api/contents/{path}",
                             token=room.tokens[user], **kwargs)
    assert reply.status_code in (200, 201), (user, path, reply.status_code, reply.text[:500])
    return reply.json()


def _solve(nb, exercises):
    """Put the instructor's solutions of ``exercises`` (1, 2, ...) into a student notebook."""
    instructor = nbformat.read(NOTEBOOK, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in instructor.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if any(grade_id == f"{NOTEBOOK.name[:2]}-ex{k}-solution" for k in exercises):
            cell["source"] = solutions[grade_id]
    return nb


@pytest.fixture(scope="module")
def course_run(room):
    """Release, fetch, submit, collect, autograde and feedback, as the users would; timed."""
    times = {}
    start = time.monotonic()
    _formgrader(room, f"assignment/{ASSIGNMENT}/assign")
    _formgrader(room, f"assignment/{ASSIGNMENT}/release")
    times["release"] = time.monotonic() - start
    graded = [gid for _, gid, _ in grading.graded_cells(grading.read_notebook(NOTEBOOK))]
    n_exercises = len(graded)
    solve = {"solved": range(1, n_exercises + 1), "untouched": (), "partial": (1,)}
    start = time.monotonic()
    for role, user in room.students.items():
        listing = _post(room, user, "/assignments/fetch", course_id=COURSE_ID,
                        assignment_id=ASSIGNMENT)
        assert listing["success"], listing
        assert any(a["assignment_id"] == ASSIGNMENT for a in listing["value"]), listing
        path = f"{ASSIGNMENT}/{NOTEBOOK.name}"
        model = _contents(room, user, path)
        if solve[role]:
            nb = _solve(model["content"], solve[role])
            _contents(room, user, path, method="PUT",
                      json={"type": "notebook", "format": "json", "content": nb})
        _post(room, user, "/assignments/submit", course_id=COURSE_ID, assignment_id=ASSIGNMENT)
    times["fetch+submit"] = time.monotonic() - start
    start = time.monotonic()
    _formgrader(room, f"assignment/{ASSIGNMENT}/collect")
    for user in room.students.values():
        _formgrader(room, f"submission/{ASSIGNMENT}/{user}/autograde")
    times["autograde"] = time.monotonic() - start
    _formgrader(room, f"assignment/{ASSIGNMENT}/generate_feedback")
    _formgrader(room, f"assignment/{ASSIGNMENT}/release_feedback")
    partial = room.students["partial"]
    _post(room, partial, "/assignments/fetch_feedback", course_id=COURSE_ID,
          assignment_id=ASSIGNMENT)
    reply = room.hub.request("GET", f"/user/{room.instructor}/formgrader/api/submissions/"
                             f"{ASSIGNMENT}", token=room.tokens[room.instructor])
    assert reply.status_code == 200, reply.text
    scores = {s["student"]: (s["score"], s["max_score"]) for s in reply.json()}
    print("classroom timings (s):", {k: round(v, 1) for k, v in times.items()})
    return SimpleNamespace(scores=scores, times=times)


def test_autograde_through_the_exchange(room, course_run):
    points = {gid: p for _, gid, p in grading.graded_cells(grading.read_notebook(NOTEBOOK))}
    total, first = sum(points.values()), points[f"{NOTEBOOK.name[:2]}-ex1-tests"]
    s = room.students
    assert course_run.scores == {s["solved"]: (total, total), s["untouched"]: (0, total),
                                 s["partial"]: (first, total)}


def test_returned_feedback_has_no_hidden_tests(room, course_run):
    home = classroom.user_home(room.students["partial"])
    pages = list((home / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOK.stem}.html"))
    assert len(pages) == 1, list((home / ASSIGNMENT).rglob("*"))
    page = pages[0].read_text()
    instructor = grading.read_notebook(NOTEBOOK)
    # what students see anyway (a helper used by visible and hidden tests alike)
    visible = "\n".join(cell.source for cell in grading.student_version(instructor).cells)
    hidden = []
    for cell in instructor.cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                                 cell.source, re.DOTALL):
            hidden += [line.strip() for line in region.splitlines()
                       if len(line.strip()) > 12 and line.strip() not in visible]
    assert hidden, "notebook 03 has no hidden tests to check"
    import html

    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    shown = [line for line in hidden if line in text]
    assert shown == [], f"the feedback shows hidden test lines: {shown[:3]}"
    assert grading.feedback.HIDDEN_NOTE in text


_PROBE = """
import json, os, sys
results = {}
for name, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        results[name] = "read"
    except PermissionError:
        results[name] = "denied"
    except FileNotFoundError:
        results[name] = "missing"
print(json.dumps(results))
"""


def test_students_cannot_read_others_files(room, course_run):
    solved = classroom.user_home(room.students["solved"])
    course = room.home / "course"
    targets = {
        "another student's home": solved,
        "another student's notebook": solved / ASSIGNMENT / NOTEBOOK.name,
        "another student's kernel connection files": solved / ".local/share/jupyter/runtime",
        "the exchange's inbound (submissions)": room.exchange / COURSE_ID / "inbound",
        "the instructor's source notebook": course / "source" / ASSIGNMENT / NOTEBOOK.name,
        "the submissions collected": course / "submitted" / room.students["solved"],
        "the gradebook": course / "gradebook.db",
    }
    for name, path in targets.items():
        assert path.exists(), f"{name}: {path} does not exist, the probe would prove nothing"
    user = room.students["untouched"]
    env = {**room.extra, "HOME": str(classroom.user_home(user)), "PATH": "/usr/bin:/bin"}
    done = classroom.run_as(user, [str(room.python), "-c", _PROBE,
                                   json.dumps({k: str(v) for k, v in targets.items()})],
                            env=env, cwd="/", timeout=60)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results == {name: "denied" for name in targets}, results
    # what a student may read: the released assignment
    released = room.exchange / COURSE_ID / "outbound" / ASSIGNMENT / NOTEBOOK.name
    done = classroom.run_as(user, [str(room.python), "-c", _PROBE,
                                   json.dumps({"released": str(released)})],
                            env=env, cwd="/", timeout=60)
    assert json.loads(done.stdout) == {"released": "read"}, done.stderr


def test_proxy_refuses_other_users_and_no_token(room, course_run):
    hub, alice, bob = room.hub, room.students["solved"], room.students["untouched"]
    kernel = hub.request("POST", f"/user/{alice}/api/kernels", token=room.tokens[alice],
                         json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    try:
        for path in ("/api/kernels", f"/api/kernels/{kernel_id}", "/api/contents",
                     f"/api/contents/{ASSIGNMENT}/{NOTEBOOK.name}", "/lab"):
            mine = hub.request("GET", f"/user/{alice}{path}", token=room.tokens[alice])
            assert mine.status_code == 200, (path, mine.status_code)
            theirs = hub.request("GET", f"/user/{alice}{path}", token=room.tokens[bob])
            assert theirs.status_code == 403, (path, theirs.status_code)
            nobody = hub.request("GET", f"/user/{alice}{path}")
            assert nobody.status_code in (302, 401, 403), (path, nobody.status_code)
            if nobody.status_code == 302:
                assert "/hub/" in nobody.headers["Location"], nobody.headers["Location"]
        # bob cannot stop alice's kernel, start alice's server or read her through the hub API
        assert hub.request("DELETE", f"/user/{alice}/api/kernels/{kernel_id}",
                           token=room.tokens[bob]).status_code == 403
        assert hub.api("GET", f"/users/{alice}", token=room.tokens[bob]).status_code in (403, 404)
        assert hub.api("POST", f"/users/{alice}/server",
                       token=room.tokens[bob]).status_code in (403, 404)
        assert hub.request("GET", f"/user/{alice}/api/kernels/{kernel_id}",
                           token=room.tokens[alice]).status_code == 200
    finally:
        hub.request("DELETE", f"/user/{alice}/api/kernels/{kernel_id}", token=room.tokens[alice])


def test_formgrader_is_the_instructors_only(room, course_run):
    """nbgrader's formgrader runs in the instructor's server; students get the assignment list."""
    hub, student = room.hub, room.students["untouched"]
    mine = hub.request("GET", f"/user/{room.instructor}/formgrader/api/status",
                       token=room.tokens[room.instructor])
    assert mine.status_code == 200, mine.text
    theirs = hub.request("GET", f"/user/{student}/formgrader/api/status",
                         token=room.tokens[student])
    assert theirs.status_code == 404, theirs.status_code
    listing = hub.request("GET", f"/user/{student}/assignments", params={"course_id": COURSE_ID},
                          token=room.tokens[student])
    assert listing.status_code == 200 and listing.json()["success"], listing.text


def test_everything_listens_on_loopback_only(room, course_run):
    import psutil

    pids = set(room.hub.pids())
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    owners = {psutil.Process(c.pid).username() for c in listening}
    # the hub and proxy (root) and every user's server listen
    assert {room.instructor, *room.students.values()} <= owners, owners
    assert len(listening) >= 3 + 4, listening
    wide = [(c.laddr, psutil.Process(c.pid).name()) for c in listening
            if c.laddr.ip not in ("127.0.0.1", "::1")]
    assert wide == [], f"listening beyond loopback: {wide}"
