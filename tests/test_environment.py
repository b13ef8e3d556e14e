"""pyproject.toml and environment.yml must install the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def _pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {_name(r) for r in reqs}


def _conda_names():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        else:
            names.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    return names - NOT_PACKAGES


def test_environment_yml_and_pyproject_list_the_same_packages():
    pyproject, conda = _pyproject_names(), _conda_names()
    assert pyproject - conda == set(), f"in pyproject.toml only: {sorted(pyproject - conda)}"
    assert conda - pyproject == set(), f"in environment.yml only: {sorted(conda - pyproject)}"


def test_environment_yml_pins_python_311_and_installs_course_lib():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-e ." in pip


def test_torch_ranges_admit_the_local_wheels():
    # The machine ships torch 2.14.1 / torchvision 0.29.1; the ranges must admit them.
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = {_name(r): SpecifierSet(r[len(_name(r)):]) for r in project["dependencies"]}
    assert "2.14.1" in spec["torch"] and "0.29.1" in spec["torchvision"]
