import subprocess
import sys

import numpy as np
import pytest
import torch

from course_lib import config


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert config.profile() == "quick"
    assert config.settings().image_size == 128


def test_full_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", " Full ")
    assert config.profile() == "full"
    assert config.settings().image_size > config.settings("quick").image_size


def test_wrong_profile_name_is_rejected(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast' is not a profile.*quick.*full"):
        config.profile()
    with pytest.raises(ValueError, match=r"^name must be a profile, one of \('quick', 'full'\); "
                                         r"got 'slow'"):
        config.settings("slow")
    with pytest.raises(TypeError, match="name must be a str"):
        config.settings(3)


def test_device_is_cuda_exactly_when_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert config.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert config.device("cpu").type == "cpu"


def test_device_rejects_unknown_and_unavailable(monkeypatch):
    with pytest.raises(ValueError, match="'tpu'"):
        config.device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.device("cuda")


def test_seed_everything_makes_runs_repeat():
    config.seed_everything(123)
    a = (torch.rand(3), np.random.rand(3))
    config.seed_everything(123)
    b = (torch.rand(3), np.random.rand(3))
    torch.testing.assert_close(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("bad", ["1", 1.5, None, True])
def test_seed_must_be_an_int(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        config.seed_everything(bad)


def test_seed_range():
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32\)"):
        config.seed_everything(-1)


def test_import_is_fast_and_lazy():
    # Importing the package must not import torch or build anything.
    code = "import sys, course_lib; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------- issue 13 findings
def test_settings_accepts_what_the_environment_variable_accepts(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", " FULL ")
    assert config.profile() == "full"
    assert config.settings(" FULL ") == config.settings("full") == config.settings()


def test_seed_everything_accepts_numpy_integers():
    assert config.seed_everything(np.int64(3)) == 3
    assert type(config.seed_everything(np.uint32(4))) is int
