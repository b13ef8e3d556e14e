# JupyterHub configuration for the course: one instructor, students, nbgrader's exchange.
#
# `make hub` (hub/classroom.py) starts it for a demo on 127.0.0.1; on a real server copy it to
# /etc/jupyterhub/ (or TLJH's /opt/tljh/config/jupyterhub_config.d/) and set the variables below.
# Everything is read from environment variables so that one file serves the demo, the tests
# and a deployment:
#
#   COURSE_HUB_PORT          public port of the proxy, on 127.0.0.1 (default 8000); the hub's
#                            API and the proxy's API use the next two ports
#   COURSE_HUB_STATE         folder for the hub's database, cookie secret and pid file (default .)
#   COURSE_HUB_PYTHON        python of the course environment that users' servers run
#                            (default: this interpreter, i.e. the repository's .venv)
#   COURSE_HUB_CONFIG        folder with the users' Jupyter and nbgrader configuration
#                            (default hub/config)
#   COURSE_HUB_ENV           extra environment of users' servers, "NAME=value;NAME=value"
#   COURSE_INSTRUCTOR        the instructor's user name (admin, formgrader, ~/course)
#   COURSE_STUDENTS          the students' user names, comma-separated
#   COURSE_HUB_DEMO_PASSWORD demo only: one password for every user (DummyAuthenticator);
#                            unset, users log in with their system password (PAM)
#   COURSE_HUB_ADMIN_TOKEN   optional API token of the "course-admin" service (tests, scripts)
#   NBGRADER_EXCHANGE        nbgrader's exchange folder (default /srv/nbgrader/exchange)
#   COURSE_ID                nbgrader course id (default segmentation)
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)
env = os.environ.get
HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------- network: loopback only
port = int(env("COURSE_HUB_PORT", "8000"))
c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = port + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 2}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.Spawner.ip = "127.0.0.1"

# ---------------------------------------------------------------- state
state = Path(env("COURSE_HUB_STATE", ".")).resolve()
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True

# ---------------------------------------------------------------- users
instructor = env("COURSE_INSTRUCTOR", "instructor")
students = [s.strip() for s in env("COURSE_STUDENTS", "").split(",") if s.strip()]
c.Authenticator.allowed_users = {instructor, *students}
c.Authenticator.admin_users = {instructor}
c.JupyterHub.load_groups = {"instructors": {"users": [instructor]},
                            "students": {"users": students}}
if env("COURSE_HUB_DEMO_PASSWORD"):
    # demo only (the hub listens on 127.0.0.1): one shared password, no real authentication
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = env("COURSE_HUB_DEMO_PASSWORD")
if env("COURSE_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services = [{"name": "course-admin", "api_token": env("COURSE_HUB_ADMIN_TOKEN")}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
        "services": ["course-admin"],
    }]

# ---------------------------------------------------------------- users' servers
# As root, each user's server runs as that system user (LocalProcessSpawner, the default):
# their files, kernels and processes are theirs. Without root there is no isolation: every
# user runs as the hub's user (SimpleLocalProcessSpawner), for a look at the demo only.
if os.getuid() != 0:
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")

python = env("COURSE_HUB_PYTHON", sys.executable)
c.Spawner.cmd = [python, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
config_dir = Path(env("COURSE_HUB_CONFIG", str(HERE / "config")))
extra_env = dict(item.split("=", 1) for item in env("COURSE_HUB_ENV", "").split(";") if item)
c.Spawner.environment = {
    **extra_env,
    # nbgrader's gradebook runs `alembic` from PATH: the environment's bin/ comes first
    "PATH": os.pathsep.join([str(Path(python).parent), env("PATH", "/usr/bin:/bin")]),
    "NBGRADER_EXCHANGE": env("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange"),
    "COURSE_ID": env("COURSE_ID", "segmentation"),
    "COURSE_PROFILE": env("COURSE_PROFILE", "quick"),
}


def _pre_spawn(spawner):
    """Students get nbgrader's assignment list only; the instructor also the formgrader."""
    environment = dict(spawner.environment)
    paths = [config_dir] if spawner.user.name == instructor else [config_dir / "students",
                                                                   config_dir]
    environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(str(p) for p in paths)
    if spawner.user.name == instructor:  # hub/config/nbgrader_config.py reads it
        environment["COURSE_ROOT"] = "~/course"
    spawner.environment = environment


c.Spawner.pre_spawn_hook = _pre_spawn

# Production (see README, "Teaching a class"): real authentication (PAM, OAuth, LTI),
# HTTPS in front of the proxy, per-user limits (c.Spawner.mem_limit / cpu_limit are enforced
# by SystemdSpawner and KubeSpawner, not by LocalProcessSpawner), and jupyterhub-idle-culler.
