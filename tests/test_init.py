"""The package's lazy namespace: star-import, hasattr and dir list only what exists."""

import importlib.util
import subprocess
import sys

import pytest

import course_lib


def test_star_import_works():
    namespace = {}
    exec("from course_lib import *", namespace)
    for name in course_lib.__all__:
        assert name in namespace


@pytest.mark.parametrize("name", ["models", "roi", "train", "upsampling", "widgets",
                                  "no_such_module"])
def test_hasattr_never_raises(name):
    exists = importlib.util.find_spec(f"course_lib.{name}") is not None
    assert hasattr(course_lib, name) == exists


def test_all_and_dir_list_only_existing_submodules():
    for name in course_lib.__all__:
        assert getattr(course_lib, name) is not None
    listed = set(dir(course_lib))
    for name in course_lib._KNOWN_SUBMODULES:
        exists = importlib.util.find_spec(f"course_lib.{name}") is not None
        assert (name in listed) == exists
        assert (name in course_lib.__all__) == exists
    assert {"config", "metrics", "profile", "settings"} <= listed


def test_unknown_attribute_is_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        course_lib.nope  # noqa: B018


def test_star_import_in_a_fresh_interpreter():
    code = "from course_lib import *; import course_lib; print(sorted(course_lib.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
