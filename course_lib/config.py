"""Run-time configuration: the profile, the device and the seeds.

The profile is chosen with one environment variable, ``COURSE_PROFILE``:

* ``quick`` (default, used by CI): small images (128 px), short training, every
  notebook runs in a few minutes on two CPU cores.
* ``full``: bigger images, longer training, the real datasets when their root is
  given; meant for a GPU.

>>> import course_lib as cl
>>> cl.profile()            # doctest: +SKIP
'quick'
>>> cl.settings().image_size  # doctest: +SKIP
128
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PROFILES", "Settings", "profile", "settings", "device", "seed_everything", "data_dir",
           "cache_dir"]

PROFILE_ENV = "COURSE_PROFILE"
PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Settings:
    """Sizes that depend on the profile. Notebooks read them instead of hard-coding."""

    profile: str
    image_size: int       # side of a Pasture image in pixels
    train_images: int     # Pasture training images
    val_images: int       # Pasture validation images
    train_steps: int      # optimiser steps for the notebooks' small networks
    crf_iterations: int   # mean-field iterations


_SETTINGS = {
    "quick": Settings("quick", image_size=128, train_images=300, val_images=100,
                      train_steps=300, crf_iterations=5),
    "full": Settings("full", image_size=320, train_images=3000, val_images=500,
                     train_steps=5000, crf_iterations=10),
}


def profile() -> str:
    """Return the active profile name, read from ``$COURSE_PROFILE`` (default ``"quick"``).

    Raises
    ------
    ValueError
        If the variable holds anything but ``quick`` or ``full``.
    """
    name = os.environ.get(PROFILE_ENV, "quick").strip().lower() or "quick"
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={os.environ.get(PROFILE_ENV)!r} is not a profile; "
            f"expected one of {PROFILES} (unset means 'quick')"
        )
    return name


def settings(name: str | None = None) -> Settings:
    """Return the :class:`Settings` of profile ``name`` (default: the active profile).

    ``name`` is read like ``$COURSE_PROFILE``: case and surrounding spaces do not matter.
    """
    if name is None:
        name = profile()
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower()            # the same spelling rules as $COURSE_PROFILE
    if key not in _SETTINGS:
        raise ValueError(f"name must be a profile, one of {PROFILES}; got {name!r}")
    return _SETTINGS[key]


def device(prefer: str | None = None):
    """Return the ``torch.device`` to compute on: CUDA when present, else CPU.

    ``prefer="cpu"`` forces the CPU; ``$COURSE_DEVICE`` does the same from outside.
    """
    import torch

    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice is not None:
        if not isinstance(choice, str) or choice.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device preference must be 'cpu' or 'cuda[:i]', got {choice!r}")
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} requested but CUDA is not available")
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return the seed.

    Also asks PyTorch for deterministic algorithms where it can give them
    (``warn_only`` so that ops without a deterministic version still run).
    """
    import numpy as np
    import torch

    from ._checks import check_int  # imports torch: not at ``import course_lib``

    seed = check_int(seed, "seed")          # int or NumPy integer, as Pasture takes them
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def data_dir() -> Path:
    """Folder with the committed exports (``$COURSE_DATA`` overrides)."""
    env = os.environ.get("COURSE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def cache_dir() -> Path:
    """Folder outside git for generated full-profile data (``$COURSE_CACHE`` overrides)."""
    env = os.environ.get("COURSE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "course_lib"
